// Firefox in a Chromium call (issue 13 item 7): Debian's firefox-esr,
// driven headless over WebDriver BiDi (puppeteer-core), joins an end-to-end
// encrypted call with a Chromium member; both decode each other's video and
// audio, agree on one safety code and show each other's names from MLS.
// Screen sharing (item 1): Firefox decodes and shows the Chromium member's
// screen share; its own Share button either shares or, where Firefox has
// nothing to capture (headless Firefox has no screen: getDisplayMedia says
// NotFoundError), the page says so on the button instead of failing
// silently.
//
// Firefox does not use loopback ICE candidates, so the relay advertises a
// veth address (netns.mjs makes it; nothing here goes through a namespace
// or a proxy) and both browsers load the page from it.
//
// Run by scripts/test.d/browser.sh.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import {
  check, cliLink, hook, launchBrowser, main, openTab, registerBrowser, relay, secs, startRelay, step, t0, tabs, waitFor, waitJoined,
  waitMedia, waitNoScreen, waitScreenShown,
} from './harness.mjs';
import { ADVERTISED, impairedHost } from './netns.mjs';

const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';
let firefox = null;
const profile = mkdtempSync(path.join(os.tmpdir(), 'conclave-firefox-'));
process.on('exit', () => rmSync(profile, { recursive: true, force: true }));

/** Opens the meeting in a Firefox tab; the tab looks like openTab's to the harness. */
async function openFirefoxTab(label, room, fragment) {
  const page = await firefox.newPage();
  const tab = { label, room, page, console: [], me: null, openedAt: Date.now() };
  page.on('console', (m) => {
    tab.console.push(`${secs(Date.now() - t0)}s ${m.type()}: ${m.text()}`);
    if (tab.console.length > 200) tab.console.shift();
  });
  page.on('pageerror', (e) => tab.console.push(`${secs(Date.now() - t0)}s pageerror: ${e.message}`));
  tab.url = new URL(`/${fragment}`, relay.url).href;
  tab.fragment = fragment;
  tabs.push(tab);
  await page.goto(tab.url);
  return tab;
}

async function scenario() {
  let version = '';
  await step('relay on a non-loopback address; Chromium and Firefox start', async () => {
    impairedHost('ff');
    await startRelay({ listen: '0.0.0.0:0', args: ['--public-ip', ADVERTISED] });
    await launchBrowser();
    firefox = await puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      headless: true,
      acceptInsecureCerts: true,
      userDataDir: profile,
      extraPrefsFirefox: {
        'media.navigator.streams.fake': true,
        'media.navigator.permission.disabled': true,
        'media.autoplay.default': 0,
        'media.autoplay.blocking_policy': 0,
      },
    });
    registerBrowser(firefox);
    version = await firefox.version();
    return `${relay.url.href}; ${version}`;
  });

  const link = cliLink();
  let chrome;
  let fox;
  await step('a Chromium member and a Firefox member join one meeting and decode each other', async () => {
    const chromeOpened = Date.now();
    chrome = await openTab('Chromium', link.room, `#${link.secret}&name=Cora&autojoin=1`);
    await waitJoined([chrome], 30);
    const chromeS = (Date.now() - chromeOpened) / 1000;
    const opened = Date.now();
    fox = await openFirefoxTab('Firefox', link.room, `#${link.secret}&name=Finn&autojoin=1`);
    await waitJoined([fox], 45);
    const joinedS = (Date.now() - opened) / 1000;
    for (const t of [chrome, fox]) t.me = await hook(t, () => window.conclave.me);
    const last = await waitMedia([chrome, fox], 60, 30);
    const frames = (tab, other) => (last.get(tab.label) || []).find((x) => x.participant === other.me)?.video?.framesDecoded;
    const layers = (await hook(fox, () => window.conclave.rtpStats())).outbound.map((o) => `${o.rid || '-'} ${o.frameWidth || '?'}`);
    return `page load to joined: Chromium (founder) ${chromeS.toFixed(1)} s, Firefox (admitted) ${joinedS.toFixed(1)} s; Firefox sends ${layers.join(', ')}; frames decoded: Chromium from Firefox ${frames(chrome, fox)}, Firefox from Chromium ${frames(fox, chrome)}`;
  });

  await step('both hold one MLS group: same safety code, each other\'s name from MLS, E2EE on', async () => {
    let last = '';
    await waitFor('one safety code and both names', 20, async () => {
      const [a, b] = await Promise.all([chrome, fox].map((t) => hook(t, () => ({
        code: window.conclave.safetyCode(),
        on: window.conclave.e2ee(),
        names: window.conclave.peers().map((p) => p.name),
      }))));
      last = JSON.stringify({ chromium: a, firefox: b });
      return a.code && a.code === b.code && a.on && b.on && a.names.includes('Finn') && b.names.includes('Cora') ? true : last;
    });
    return last;
  });

  await step('Cora (Chromium) shares her screen: Firefox decodes it under her screen key and shows it large', async () => {
    await chrome.page.click('#toggle-screen');
    const shown = await waitScreenShown([fox], 'Cora', 30);
    await chrome.page.click('#toggle-screen');
    await waitNoScreen([chrome, fox], 'Cora stopped sharing');
    const r = shown.get(fox.label);
    return `Firefox showed "${r.label}" (leaf ${r.sender}, context ${r.context}): ${r.framesDecoded} frames, ${r.frameWidth} px wide; gone when she stopped`;
  });

  await step('Finn (Firefox) presses Share screen: it shares, or the page says why it cannot', async () => {
    const button = await fox.page.$('#toggle-screen');
    const before = await hook(fox, () => window.conclave.sharing());
    check(before.problem !== null || !(await button.evaluate((b) => b.disabled)), `Firefox's Share button is disabled without a reason: ${JSON.stringify(before)}`);
    if (before.problem) return `disabled before trying: ${before.problem}`;
    await button.click();
    let outcome = '';
    await waitFor('Firefox shares, or says it cannot', 15, async () => {
      const st = await hook(fox, () => ({ ...window.conclave.sharing(), disabled: document.getElementById('toggle-screen').disabled,
        why: document.getElementById('screen-why').textContent, note: window.conclave.events().map((e) => e.text).find((t) => /Screen not shared/.test(t)) || null }));
      outcome = JSON.stringify(st);
      if (st.sharing) return true;
      return st.note && (st.problem === null || (st.disabled && st.why.includes(st.problem))) ? true : outcome;
    });
    const st = JSON.parse(outcome || '{}');
    if (outcome && !st.sharing) return `cannot share here, and says so: ${st.note}${st.problem ? `; button disabled: "${st.why}"` : ''}`;
    const shown = await waitScreenShown([chrome], 'Finn', 30);
    await button.click();
    await waitNoScreen([chrome, fox], 'Finn stopped sharing');
    return `Firefox shares: Chromium decoded ${shown.get(chrome.label).framesDecoded} frames of Finn's screen`;
  });
}

main(scenario, { label: 'suite-firefox', timeoutS: 240 });
