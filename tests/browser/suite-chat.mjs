// Chat inside the encrypted group (issue 13 item 4): a message is an MLS
// application message, so only members read it, and the name shown with it
// is the one its sender gave inside MLS. Ada writes; Ben and Cy see her
// text under her name; then the relay's insider view (signaling and media),
// its log and a dump of its live memory are searched for the text: not
// there. A message typed while not in the call is refused, not kept. The
// E2EE indicator stays on through key changes (indicator.js).
//
// Run by scripts/test.d/browser.sh.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  check, cliLink, hook, joinCall, main, relay, scanMemory, startRelayAndBrowser, step, waitFor,
} from './harness.mjs';

// Unique per run, so a hit cannot come from anything but this run's message.
const TEXT = `meet at the north gate ${Math.random().toString(36).slice(2, 10)} 🌍`;

const chatOf = (tab) => hook(tab, () => window.conclave.chat());

async function scenario() {
  await step('relay and chromium start', startRelayAndBrowser);
  const link = cliLink();
  let ada;
  let ben;
  let cy;
  await step('Ada, Ben and Cy join', async () => {
    [ada, ben, cy] = await joinCall(link, ['Ada', 'Ben', 'Cy'], '&debug=1&rekey_s=3');
    await waitFor('everyone knows everyone\'s name', 20, async () => {
      const names = await Promise.all([ada, ben, cy].map((t) => hook(t, () => window.conclave.peers().map((p) => p.name).sort().join())));
      return names.join('|') === 'Ben,Cy|Ada,Cy|Ada,Ben' ? true : names.join(' | ');
    });
  });

  await step('Ada writes through the chat form; Ben and Cy see it under her name', async () => {
    await ada.page.fill('#chat-input', TEXT);
    await ada.page.click('#chat-form button');
    await waitFor('the message at Ben and Cy', 15, async () => {
      const [b, c] = [await chatOf(ben), await chatOf(cy)];
      const ok = (log) => log.some((m) => m.name === 'Ada' && m.text === TEXT && !m.own);
      const a = await chatOf(ada);
      const notes = await hook(ada, () => [...document.querySelectorAll('#events li')].map((li) => li.textContent).slice(-3));
      return ok(b) && ok(c) ? true : JSON.stringify({ ben: b, cy: c, ada: a, adaNotes: notes });
    });
    const own = await chatOf(ada);
    check(own.length === 1 && own[0].own && own[0].text === TEXT, `Ada's own log: ${JSON.stringify(own)}`);
    const shown = await hook(ben, () => document.querySelector('#chat-log li .text')?.textContent);
    check(shown === TEXT, `Ben's page shows ${JSON.stringify(shown)}`);
  });

  await step('the relay holds no message text: insider view, log and live memory', async () => {
    const needle = Buffer.from(TEXT.split(' ').slice(-2, -1)[0]); // the random word
    const files = {
      'signaling.jsonl': readFileSync(path.join(relay.insider, 'signaling.jsonl')),
      'media.pcap': readFileSync(path.join(relay.insider, 'media.pcap')),
      log: Buffer.concat(relay.all.map((d) => Buffer.from(d))),
    };
    for (const [name, bytes] of Object.entries(files)) check(bytes.indexOf(needle) < 0, `the message is in the relay's ${name}`);
    const mem = scanMemory(relay.proc.pid, [['message', needle], ['control: room id', Buffer.from(link.room)]]);
    check(mem.found.get('control: room id'), `the memory scan (${mem.scanned} B) did not find the room id, which the relay holds: the scan is broken`);
    check(!mem.found.get('message'), 'the message is in the relay\'s memory');
    return `searched ${Object.entries(files).map(([k, v]) => `${k} ${v.length} B`).join(', ')}, memory ${(mem.scanned / 1048576).toFixed(0)} MiB`;
  });

  await step('the E2EE indicator stays on through periodic key changes (every 3 s here)', async () => {
    const epochOf = (t) => hook(t, () => window.conclave.epoch());
    const first = await epochOf(ben);
    let samples = 0;
    let off = 0;
    const end = Date.now() + 9000;
    while (Date.now() < end) {
      samples += 1;
      if (!(await hook(ben, () => window.conclave.e2ee()))) off += 1;
      await new Promise((r) => setTimeout(r, 100));
    }
    const last = await epochOf(ben);
    check(last - first >= 2, `only ${last - first} key changes in 9 s`);
    check(off === 0, `the indicator went off in ${off} of ${samples} samples across ${last - first} key changes`);
    return `${samples} samples across epochs ${first} → ${last}, always on`;
  });

  await step('after leaving, a message is refused with a reason, not kept to send later', async () => {
    await hook(cy, () => window.conclave.leave());
    await hook(cy, () => window.conclave.sendChat('anyone?'));
    const log = await chatOf(cy);
    check(!log.some((m) => m.text === 'anyone?'), `Cy's log took it: ${JSON.stringify(log)}`);
    const notes = await hook(cy, () => [...document.querySelectorAll('#events li')].map((li) => li.textContent));
    check(notes.some((n) => /Not sent: you are not in the call/.test(n)), `Cy's events: ${JSON.stringify(notes.slice(-5))}`);
  });
}

main(scenario, { label: 'suite-chat', timeoutS: 240 });
