// A member's address changes mid-call (issue 13 item 5, issue 12): Pia's
// Chromium sits in a network namespace whose media passes a proxy
// (netns.mjs, impair.mjs, no loss); Vic is on the host. Mid-call the proxy
// gives Pia's media a new source port, as a NAT that rebinds or a phone
// moving networks does: the relay now sees her packets, and her ICE
// consent checks, come from an address it has never seen. The call must go
// on by itself: within a minute Vic decodes Pia again and Pia decodes Vic,
// without a click. The step says how (the same connection, its ICE moved
// to the new address; or a rejoin through admission).
//
// Needs root (ip netns, veth). Run by scripts/test.d/browser.sh.

import {
  check, cliLink, hook, launchBrowser, main, openTab, relay, startRelay, step, waitFor, waitJoined, waitMedia,
} from './harness.mjs';
import { ADVERTISED, DIRECT, impairedHost } from './netns.mjs';

/** Frames `tab` decoded of `from`'s camera (by the key that decrypted them). */
async function framesFrom(tab, from) {
  const rows = await hook(tab, () => window.conclave.stats());
  const row = rows.find((r) => r.participant === from.me);
  return (row && row.video && row.video.framesDecoded) || 0;
}

async function scenario() {
  let host;
  let inNs;
  await step('a namespace for Pia whose media passes a proxy; relay; two Chromiums', async () => {
    host = impairedHost('rebind');
    await startRelay({ listen: '0.0.0.0:0', args: ['--public-ip', ADVERTISED] });
    await host.startProxy(Number(relay.url.port), { loss: 0, seed: 3 });
    await launchBrowser();
    inNs = await launchBrowser({ executablePath: host.chromium });
    return `${host.ns}: media to ${ADVERTISED}:${relay.url.port} through the proxy`;
  });

  const link = cliLink();
  const direct = new URL(relay.url);
  direct.hostname = DIRECT;
  let pia;
  let vic;
  await step('Pia (behind the proxy) and Vic join; each decodes the other', async () => {
    vic = await openTab('Vic', link.room, `#${link.secret}&name=Vic&autojoin=1`);
    await waitJoined([vic], 30);
    pia = await openTab('Pia', link.room, `#${link.secret}&name=Pia&autojoin=1`, '/', direct, inNs);
    await waitJoined([pia], 45);
    for (const t of [pia, vic]) t.me = await hook(t, () => window.conclave.me);
    await waitMedia([pia, vic], 90, 30);
    check(host.counts && host.counts.up.in > 100, `the proxy saw ${JSON.stringify(host.counts)}: Pia's media does not pass it`);
  });

  await step('Pia\'s media comes from a new port: the call goes on by itself', async () => {
    const before = { vic: await framesFrom(vic, pia), pia: await framesFrom(pia, vic), me: pia.me };
    const at = Date.now();
    host.proxy.stdin.write(`${JSON.stringify({ rebind: true })}\n`);
    await waitFor('the proxy rebound', 10, () => host.proxyOut.some((l) => l.includes('rebound')) || host.proxyOut.join(' '), 100);
    let how = '';
    await waitFor('Vic decodes Pia and Pia decodes Vic again', 60, async () => {
      const me = await hook(pia, () => window.conclave.me);
      const state = await hook(pia, () => window.conclave.state);
      if (me && me !== pia.me) { how = `Pia rejoined as ${me}`; pia.me = me; }
      if (state !== 'joined') return `Pia is ${state}`;
      const rejoined = pia.me !== before.me;
      const [v, p] = [await framesFrom(vic, pia), await framesFrom(pia, vic)];
      // After a rejoin the counters start again on new receivers.
      const [dv, dp] = rejoined ? [v, p] : [v - before.vic, p - before.pia];
      return (dv >= 20 && dp >= 20) || `since the change: Vic decoded ${dv} frames of Pia, Pia ${dp} of Vic`;
    });
    const took = (Date.now() - at) / 1000;
    return `${how || 'same connection: the relay followed her new address'}; media both ways ${took.toFixed(1)} s after the change; proxy ${JSON.stringify(host.counts)}`;
  });
}

main(scenario, { label: 'suite-rebind', timeoutS: 240 });
