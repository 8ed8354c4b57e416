// Bring your own client (issue 10, "the served code"): `conclave open LINK`
// serves the page and wasm built into the user's own binary on
// http://127.0.0.1:PORT and points it at the relay, which then carries only
// signaling and media. This suite proves, in a real Chromium:
//
//   - a member on the locally served page and a member on the relay's page
//     share one end-to-end encrypted call: same safety code, both decode;
//   - the local page's code came from the loopback server (nothing of it
//     from the relay), and the relay accepted its signaling socket (the
//     loopback Origin is allowed, docs/operator-view.md);
//   - `conclave verify` finds every file the relay serves equal to this
//     build's, pinned by the certificate fingerprint the relay printed.
//
// Run by scripts/test.d/browser.sh after run.mjs.

import { execFile, spawn } from 'node:child_process';
import {
  BIN, check, cliLink, hook, launchBrowser, main, openTab, relay, startRelay, step, waitFor, waitJoined,
} from './harness.mjs';

const open = { proc: null, url: null, out: [] };

/** Starts `conclave open -` with the link on standard input (so the secret
 * is not in the process list) and waits for the local address it prints. */
async function startOpen(link) {
  open.proc = spawn(BIN, ['open', '-', '--no-browser'], { stdio: ['pipe', 'pipe', 'pipe'] });
  open.proc.stdout.on('data', (d) => {
    open.out.push(d.toString());
    const m = /(http:\/\/127\.0\.0\.1:\d+\/#\S+)/.exec(open.out.join(''));
    if (m && !open.url) open.url = m[1];
  });
  open.proc.stderr.on('data', (d) => open.out.push(d.toString()));
  open.proc.stdin.end(`${link}\n`);
  await waitFor('conclave open prints its local address', 15, () => open.url ? true : `output so far: ${JSON.stringify(open.out.join(''))}`, 100);
}

/** Summed decoded video frames and the E2EE state of a tab. */
const progress = (tab) => hook(tab, async () => {
  const stats = await window.conclave.stats();
  return {
    frames: stats.reduce((n, s) => n + ((s.video && s.video.framesDecoded) || 0), 0),
    on: window.conclave.e2ee(),
    code: window.conclave.safetyCode(),
    roster: window.conclave.roster().length,
  };
});

function run(args) {
  return new Promise((resolve) => {
    execFile(BIN, args, { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

async function scenario() {
  await step('relay starts; chromium starts', async () => {
    await startRelay();
    await launchBrowser();
    return relay.url.href;
  });
  const link = cliLink();
  await step('`conclave open -` serves this build\'s page on loopback for the meeting', async () => {
    await startOpen(link.href);
    const local = new URL(open.url);
    check(local.hostname === '127.0.0.1', `conclave open serves on ${local.host}`);
    check(/holds the meeting secret/.test(open.out.join('')), 'conclave open does not warn that its address holds the secret');
    return `${local.origin}/#…`;
  });
  let mine;
  let theirs;
  await step('a member on the local page and one on the relay\'s page share one encrypted call and decode each other', async () => {
    theirs = await openTab('relay-page', link.room, `#${link.secret}&name=Robin%20Remote&autojoin=1`);
    await waitJoined([theirs], 30);
    mine = await openTab('own-page', link.room, '&name=Lark%20Local&autojoin=1', open.url);
    await waitJoined([mine], 30);
    let last = null;
    await waitFor('both decode video under one safety code', 60, async () => {
      const [a, b] = [await progress(mine), await progress(theirs)];
      last = { mine: a, theirs: b };
      if (!a.on || !b.on) return `E2EE on: own-page ${a.on}, relay-page ${b.on}`;
      if (a.code !== b.code) return `codes differ: ${a.code} / ${b.code}`;
      if (a.roster !== 2 || b.roster !== 2) return `rosters ${a.roster} / ${b.roster}`;
      return (a.frames > 30 && b.frames > 30) || `frames decoded: own-page ${a.frames}, relay-page ${b.frames}`;
    });
    return `code ${last.mine.code}; frames decoded own-page ${last.mine.frames}, relay-page ${last.theirs.frames}`;
  });
  await step('the local page\'s code came from the loopback server, not the relay', async () => {
    const loaded = await hook(mine, () => [location.origin, ...performance.getEntriesByType('resource').map((e) => e.name)]);
    const origin = new URL(open.url).origin;
    const foreign = loaded.filter((u) => /\.(js|wasm|css)(\?|$)/.test(u) && !u.startsWith(origin));
    check(loaded[0] === origin, `the own page runs on ${loaded[0]}`);
    check(foreign.length === 0, `the own page loaded code from elsewhere: ${JSON.stringify(foreign)}`);
    return `${loaded.length - 1} resources, all from ${origin}`;
  });
  await step('`conclave verify` pinned by the printed fingerprint finds every served file equal to this build', async () => {
    const fp = /SHA-256 ([0-9A-F:]{95})/.exec(relay.out.join('\n'));
    check(fp, 'the relay printed no certificate fingerprint');
    const r = await run(['verify', relay.url.origin, '--fingerprint', fp[1]]);
    check(r.code === 0 && /VERDICT: MATCH/.test(r.stdout), `conclave verify exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout.split('\n').find((l) => l.startsWith('VERDICT')) || '';
  });
  if (open.proc) open.proc.kill('SIGTERM');
}

process.on('exit', () => { if (open.proc) open.proc.kill('SIGKILL'); });
main(scenario, { label: 'own client', timeoutS: 150 });
