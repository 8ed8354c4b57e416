// What people see (issue 13 items 2, 6 and the screenshots): the home
// page, the meeting before joining (a preview of your camera, the
// microphone's level, device choice; joining with the camera off shows it
// off to the others), a four-person call, and the same call on a
// phone-sized screen, written as PNG files to a folder this suite prints
// (CONCLAVE_SCREENSHOTS, default target/screenshots/) for a reviewer. It
// checks the basics a demanding user (and a screen reader) needs: on a
// phone nothing is wider than the screen and the call's buttons are on
// its first screenful (four tiles two by two above them); every input and button has a name; joins and leaves are announced
// (aria-live).
//
// Run by scripts/test.d/browser.sh.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  ROOT, browser, check, cliLink, hook, joinCall, launchBrowser, main, openTab, relay, startRelay, step, waitFor, waitJoined,
  waitMedia,
} from './harness.mjs';

const DIR = process.env.CONCLAVE_SCREENSHOTS || path.join(ROOT, 'target', 'screenshots');

async function shot(page, name) {
  const file = path.join(DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Inputs and buttons without an accessible name, on `page`. */
const unnamed = (tab) => hook(tab, () => [...document.querySelectorAll('input, button, select, textarea')]
  .filter((e) => e.offsetParent !== null && !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.textContent || '').trim() && e.type !== 'hidden')
  .map((e) => e.id || e.outerHTML.slice(0, 60)));

async function scenario() {
  await step('relay and chromium start; screenshots go to a folder', async () => {
    mkdirSync(DIR, { recursive: true });
    await startRelay();
    await launchBrowser();
    return DIR;
  });

  await step('home page and the meeting before joining', async () => {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    await page.goto(relay.url.href);
    await page.waitForSelector('#home:not([hidden])');
    const files = [await shot(page, '1-home')];
    const link = cliLink();
    await page.goto(`${relay.url.origin}/#${link.secret}`);
    await page.waitForSelector('#join-form:not([hidden])');
    // The preview: your camera, the microphone's level, the devices to choose from.
    await page.waitForFunction(() => document.getElementById('preview').videoWidth > 0, null, { timeout: 15000 });
    await page.waitForFunction(() => document.getElementById('mic-level').value > 0.01, null, { timeout: 15000, polling: 50 });
    const choices = await page.evaluate(() => ['camera-select', 'mic-select'].map((id) => document.getElementById(id).options.length));
    check(choices.every((n) => n >= 1), `device choices: ${choices}`);
    files.push(await shot(page, '2-before-joining'));
    const missing = await unnamed({ page });
    check(missing.length === 0, `controls without a name: ${missing}`);
    await ctx.close();
    return files.map((f) => path.basename(f)).join(', ');
  });

  const link = cliLink();
  let group = [];
  await step('a four-person call', async () => {
    group = await joinCall(link, ['Amara', 'Bilal', 'Chen', 'Dana']);
    await waitMedia(group, 90, 20);
    const [amara] = group;
    await amara.page.setViewportSize({ width: 1280, height: 800 });
    await hook(amara, () => window.conclave.sendChat('Hello everyone'));
    await new Promise((r) => setTimeout(r, 1500));
    const file = await shot(amara.page, '3-four-person-call');
    const missing = await unnamed(amara);
    check(missing.length === 0, `controls without a name in the call: ${missing}`);
    const live = await hook(amara, () => document.getElementById('events').getAttribute('aria-live'));
    check(live === 'polite', `joins and leaves are not announced (events aria-live=${live})`);
    return path.basename(file);
  });

  await step('Eve joins from the form with her camera off: the others see her camera off', async () => {
    const eve = await openTab('Eve', link.room, `#${link.secret}`);
    await eve.page.waitForFunction(() => document.getElementById('preview').videoWidth > 0, null, { timeout: 15000 });
    await eve.page.uncheck('#join-cam');
    await eve.page.fill('#name', 'Eve');
    await eve.page.click('#join');
    await waitJoined([eve], 45);
    const amara = group[0];
    let seen = '';
    await waitFor('Amara sees Eve with her camera off', 20, async () => {
      const p = (await hook(amara, () => window.conclave.peers())).find((x) => x.name === 'Eve');
      seen = JSON.stringify(p);
      return p && p.video === false && p.audio === true ? true : seen;
    });
    const own = await hook(eve, () => document.querySelector('#grid .tile.self').classList.contains('video-off'));
    check(own, 'Eve\'s own tile does not show her camera off');
    await hook(eve, () => window.conclave.leave());
    return seen;
  });

  await step('the same call on a phone-sized screen: nothing wider than it, the buttons on it', async () => {
    const tab = group[1];
    await tab.page.setViewportSize({ width: 390, height: 844 });
    await new Promise((r) => setTimeout(r, 1000));
    const fit = await hook(tab, () => {
      const wide = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > innerWidth + 1 && e.offsetParent !== null).map((e) => e.id || e.className || e.tagName);
      const buttons = ['toggle-audio', 'toggle-video', 'leave'].map((id) => {
        const r = document.getElementById(id).getBoundingClientRect();
        return { id, on: r.left >= 0 && r.right <= innerWidth && r.bottom <= innerHeight && r.width > 0 };
      });
      return { scroll: document.documentElement.scrollWidth, width: innerWidth, wide: wide.slice(0, 5), buttons };
    });
    const file = await shot(tab.page, '4-phone');
    check(fit.scroll <= fit.width, `the page is ${fit.scroll} px wide on a ${fit.width} px screen (too wide: ${fit.wide})`);
    check(fit.buttons.every((b) => b.on), `buttons off the screen: ${JSON.stringify(fit.buttons)}`);
    return `${path.basename(file)}; ${fit.width} px wide, nothing wider`;
  });
}

main(scenario, { label: 'suite-layout', timeoutS: 240 });
