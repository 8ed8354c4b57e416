// The relay restarts mid-call (issue 13 item 5, issue 11's restart survival
// from the page's side): every page notices, says so, and rejoins the same
// meeting through admission on its own (crates/web/assets/reconnect.js),
// without a click. The new relay knows nothing of the old call (it keeps no
// state); the first page back starts a new group, the others are admitted
// to it, and all agree on one new safety code. Ida was sharing her screen:
// the share goes on after the rejoin without asking her again (the capture
// is kept across the reconnect; a new one would need her click).
//
// Run by scripts/test.d/browser.sh.

import {
  check, cliLink, hook, joinCall, learnIds, main, relay, startRelay, startRelayAndBrowser, step, stopRelay, waitFor,
  waitJoined, waitMedia, waitScreenShown,
  framesMap,
} from './harness.mjs';

async function scenario() {
  await step('relay and chromium start', startRelayAndBrowser);
  const link = cliLink();
  let group = [];
  let codeBefore = '';
  await step('Ida, Jo and Kai are in a call; Ida shares her screen', async () => {
    group = await joinCall(link, ['Ida', 'Jo', 'Kai']);
    await waitMedia(group, 60, 30);
    codeBefore = await hook(group[0], () => window.conclave.safetyCode());
    await group[0].page.click('#toggle-screen');
    await waitScreenShown(group.slice(1), 'Ida', 30);
    return `code ${codeBefore}`;
  });

  let restartedAt = 0;
  await step('the relay stops and starts again on the same port; the pages say they are rejoining', async () => {
    const port = relay.url.port;
    await stopRelay();
    await waitFor('every page noticed', 10, async () => {
      const states = await Promise.all(group.map((t) => hook(t, () => window.conclave.state)));
      return states.every((st) => st === 'joining') ? true : states.join(', ');
    });
    const notes = await hook(group[1], () => [...document.querySelectorAll('#events li')].map((li) => li.textContent));
    check(notes.some((n) => /Rejoining in/.test(n)), `Jo's page does not say it is rejoining: ${JSON.stringify(notes.slice(-4))}`);
    relay.url = null;
    relay.exited = null;
    await startRelay({ listen: `127.0.0.1:${port}` });
    restartedAt = Date.now();
    return `relay back on port ${port}`;
  });

  await step('without a click, all three are back in one group with media flowing', async () => {
    await waitJoined(group, 30);
    await learnIds(group);
    const last = await waitMedia(group, 30, 10);
    const backS = (Date.now() - restartedAt) / 1000;
    let codes = [];
    await waitFor('one safety code', 15, async () => {
      codes = await Promise.all(group.map((t) => hook(t, () => window.conclave.safetyCode())));
      return codes.every((c) => c && c === codes[0]) ? true : codes.join(' / ');
    });
    check(codes[0] !== codeBefore, 'the safety code did not change: the old group cannot have survived a relay that keeps nothing');
    const notes = await hook(group[2], () => [...document.querySelectorAll('#events li')].map((li) => li.textContent));
    check(notes.some((n) => /Back in the call/.test(n)), `Kai's page does not say it is back: ${JSON.stringify(notes.slice(-4))}`);
    return `media again ${backS.toFixed(1)} s after the relay came back; new code ${codes[0]}; frames ${JSON.stringify(Object.fromEntries(framesMap(group, last)))}`;
  });

  await step('Ida\'s screen share goes on after the rejoin, without a click', async () => {
    await waitScreenShown(group.slice(1), 'Ida', 30);
    const share = await hook(group[0], () => window.conclave.sharing());
    check(share.sharing && share.button === 'Stop sharing', `Ida's page after the rejoin: ${JSON.stringify(share)}`);
    const notes = await hook(group[0], () => [...document.querySelectorAll('#events li')].map((li) => li.textContent));
    check(notes.some((n) => /Your screen is shared again/.test(n)), `Ida's page does not say her screen is shared again: ${JSON.stringify(notes.slice(0, 4))}`);
    return `shown again ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after the relay came back`;
  });
}

main(scenario, { label: 'suite-reconnect', timeoutS: 240 });
