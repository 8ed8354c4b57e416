// Loss on a publisher's link (issue 12 §4 and §6): Pia's Chromium sits in
// a network namespace whose media passes a proxy that loses 5 % of the
// datagrams each way (seeded; impair.mjs, netns.mjs). Vic and Val are on
// clean links. The suite proves that both keep decoding Pia's end-to-end
// encrypted video without long freezes, that the losses were repaired by
// retransmission (Pia's browser sent retransmissions the relay asked for:
// its `retransmittedPacketsSent` and the relay's `conclave_rtp_nacked_total`),
// and that Pia, whose incoming half loses too, keeps decoding both.
//
// Needs root (ip netns, veth). Run by scripts/test.d/browser.sh.

import {
  FAKE_FPS, check, cliLink, hook, httpsGet, launchBrowser, log, main, openTab, relay, sleep, startRelay, step, waitJoined, waitMedia,
} from './harness.mjs';
import { ADVERTISED, DIRECT, impairedHost } from './netns.mjs';

const LOSS = 0.05;
const WINDOW_S = 20;

async function metric(name) {
  const res = await httpsGet(new URL('/metrics', relay.url));
  const line = res.body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

const rtp = (tab) => hook(tab, () => window.conclave.rtpStats());

/** The inbound video row of `tab` for the stream from `from` (by the decrypted-member stats). */
async function videoFrom(tab, from) {
  const rows = await hook(tab, () => window.conclave.stats());
  const row = rows.find((r) => r.participant === from.me);
  return row && row.video;
}

async function scenario() {
  let host;
  let inNs;
  await step(`a namespace for Pia whose media loses ${LOSS * 100} % each way; relay; two Chromiums`, async () => {
    host = impairedHost('loss');
    await startRelay({ listen: '0.0.0.0:0', args: ['--public-ip', ADVERTISED] });
    await host.startProxy(Number(relay.url.port), { loss: LOSS, seed: 12 });
    await launchBrowser();
    inNs = await launchBrowser({ executablePath: host.chromium });
    return `${host.ns}: media to ${ADVERTISED}:${relay.url.port} through the proxy, the page from ${DIRECT}`;
  });

  const link = cliLink();
  const direct = new URL(relay.url);
  direct.hostname = DIRECT;
  let pia;
  let vic;
  let val;
  await step('Pia (lossy link), Vic and Val join; everyone decodes everyone', async () => {
    vic = await openTab('Vic', link.room, `#${link.secret}&name=Vic&autojoin=1`);
    await waitJoined([vic], 30);
    pia = await openTab('Pia', link.room, `#${link.secret}&name=Pia&autojoin=1`, '/', direct, inNs);
    val = await openTab('Val', link.room, `#${link.secret}&name=Val&autojoin=1`);
    await waitJoined([pia, val], 45);
    for (const t of [pia, vic, val]) t.me = await hook(t, () => window.conclave.me);
    await waitMedia([pia, vic, val], 90, 30);
    check(host.counts && host.counts.up.in > 100, `the proxy saw ${JSON.stringify(host.counts)}: Pia's media does not pass it`);
    return `proxy so far: ${JSON.stringify(host.counts)}`;
  });

  await step(`over ${WINDOW_S} s of 5 % loss the viewers keep decoding Pia, with retransmissions`, async () => {
    const before = {
      vic: await videoFrom(vic, pia), val: await videoFrom(val, pia), pia: await videoFrom(pia, vic),
      nacked: await metric('conclave_rtp_nacked_total'),
      sent: (await rtp(pia)).outbound,
      freezes: { vic: (await rtp(vic)).inbound, val: (await rtp(val)).inbound },
    };
    await sleep(WINDOW_S * 1000);
    const after = {
      vic: await videoFrom(vic, pia), val: await videoFrom(val, pia), pia: await videoFrom(pia, vic),
      nacked: await metric('conclave_rtp_nacked_total'),
      sent: (await rtp(pia)).outbound,
      freezes: { vic: (await rtp(vic)).inbound, val: (await rtp(val)).inbound },
    };
    const fps = (a, b) => ((b.framesDecoded - a.framesDecoded) / WINDOW_S);
    const rates = { vic: fps(before.vic, after.vic), val: fps(before.val, after.val), pia: fps(before.pia, after.pia) };
    // The fake camera sends up to 30 frames/s; the encoder drops to ~10–15
    // under loss feedback. 5 frames/s still moves; below it a viewer sees a slideshow.
    const sum = (rows, k) => rows.reduce((n, r) => n + (r[k] || 0), 0);
    const retransmitted = sum(after.sent, 'retransmittedPacketsSent') - sum(before.sent, 'retransmittedPacketsSent');
    const nacksIn = sum(after.sent, 'nackCount') - sum(before.sent, 'nackCount');
    const nacked = after.nacked - before.nacked;
    // Pia's own incoming half loses too: the relay repairs it from its cache.
    const piaIn = (await rtp(pia)).inbound;
    const repaired = sum(piaIn, 'retransmittedPacketsReceived');
    const relayResent = await metric('conclave_rtx_sent_total');
    log(`frames/s ${JSON.stringify(rates)}; Pia retransmitted ${retransmitted} for ${nacksIn} NACKs; relay asked again for ${after.nacked - before.nacked}; Pia got ${repaired} repairs (relay resent ${relayResent})`);
    // At least 40 % of the fake camera's rate (harness.mjs FAKE_FPS): the
    // viewers keep decoding, not merely a frame now and then.
    for (const [who, r] of Object.entries(rates)) check(r >= 0.4 * FAKE_FPS, `${who} decoded ${r.toFixed(1)} frames/s over ${WINDOW_S} s (the camera makes ${FAKE_FPS})`);
    check(retransmitted > 0, `Pia's browser retransmitted nothing (NACKs it got: ${nacksIn})`);
    check(nacked > 0, 'the relay asked Pia for no lost packet (conclave_rtp_nacked_total did not grow)');
    // Freezes (Chromium: a frame later than max(3 × mean interval, mean + 150 ms)).
    // 5 % loss repaired by retransmission costs a round trip now and then,
    // not a visible stop. On a fast machine the viewers froze under 15 % of
    // the window; on the 2-core CI machine, saturated by three Chromiums,
    // they froze 6.8-7.2 s of 20 s in 3 freezes (about 2.4 s each, the
    // length of a wait for a key frame; cause not yet found, see issue 12's
    // notes). The bound is a third: above it the call is mostly stopped.
    const frozen = {};
    for (const who of ['vic', 'val']) {
      // Only the stream of Pia's video (the mid it is received on).
      const mid = after[who].mid;
      const f = (rows) => {
        const mine = rows.filter((r) => r.mid === mid);
        return { n: sum(mine, 'freezeCount'), s: sum(mine, 'totalFreezesDuration') };
      };
      const [a, b] = [f(before.freezes[who]), f(after.freezes[who])];
      frozen[who] = { count: b.n - a.n, seconds: +(b.s - a.s).toFixed(2) };
      check(frozen[who].seconds <= WINDOW_S / 3, `${who} was frozen ${frozen[who].seconds} s of ${WINDOW_S} s (${frozen[who].count} freezes)`);
    }
    check(repaired > 0 && relayResent > 0, `Pia's losses were not repaired by the relay (${repaired} repairs received, ${relayResent} resent)`);
    return `frames/s Vic ${rates.vic.toFixed(1)}, Val ${rates.val.toFixed(1)}, Pia (from Vic) ${rates.pia.toFixed(1)}; `
      + `Pia retransmitted ${retransmitted} packets for ${nacksIn} NACKs; relay asked again for ${nacked}, resent ${relayResent} to Pia; `
      + `freezes ${JSON.stringify(frozen)}; proxy ${JSON.stringify(host.counts)}`;
  });
}

main(scenario, { label: 'suite-loss', timeoutS: 300 });
