// Revocation (issue 10, item 4), in a real Chromium: a member removes someone
// with the roster's Remove button, which also revokes the room's link. Every
// remaining member derives the same new admission secret from the new MLS
// epoch and shows the new link; the old link (which the removed person kept)
// admits nobody, and members see the refused attempt; the new link admits.
//
// Run by scripts/test.d/browser.sh after run.mjs.

import {
  check, cliLink, e2eeOf, hook, launchBrowser, main, openLinkTab, openTab, startRelay, step, waitFor, waitJoined,
} from './harness.mjs';

const shareLink = (tab) => tab.page.inputValue('#share-link');

async function scenario() {
  await step('relay starts; chromium starts', async () => {
    await startRelay();
    await launchBrowser();
  });
  const link = cliLink();
  const tabs = [];
  await step('Alice, Bob and Carol join by the link', async () => {
    for (const name of ['Alice Avocet', 'Bob Bittern', 'Carol Curlew']) {
      const tab = await openLinkTab(name.split(' ')[0], link, `name=${encodeURIComponent(name)}&autojoin=1`);
      tab.name = name;
      await waitJoined([tab], 30);
      tabs.push(tab);
    }
    await waitFor('three members agree', 30, async () => {
      const es = await Promise.all(tabs.map((t) => e2eeOf(t)));
      if (es.some((e) => e.state !== 'member' || e.roster.length !== 3)) return JSON.stringify(es.map((e) => [e.state, e.roster.length]));
      return new Set(es.map((e) => e.code)).size === 1 || 'codes differ';
    });
  });
  const [alice, bob, carol] = tabs;
  let newLink;
  await step('Alice presses Remove on Carol: Carol is out; Alice and Bob show one new link; the old one is revoked', async () => {
    const carolLeaf = (await e2eeOf(alice)).roster.find((r) => r.name === carol.name).leaf;
    await alice.page.click(`#roster li[data-leaf="${carolLeaf}"] button.remove`);
    await waitFor('Carol is told she was removed', 20, async () => {
      const errs = await hook(carol, () => window.conclave.errors);
      return errs.some((e) => e.code === 'removed') || JSON.stringify(errs);
    });
    await waitFor('Alice and Bob show the same new link', 20, async () => {
      const [a, b] = [await shareLink(alice), await shareLink(bob)];
      if (!/&a=[A-Za-z0-9_-]{43}$/.test(a)) return `Alice shows ${a}`;
      return a === b || `Alice shows ${a}, Bob ${b}`;
    });
    newLink = await shareLink(alice);
    check(newLink.startsWith(link.href), `the new link ${newLink} is not the old one plus a=`);
    const events = await alice.page.textContent('#events');
    check(/link was revoked/i.test(events), `Alice's event list does not say the link was revoked: ${JSON.stringify(events)}`);
    const own = await hook(bob, () => location.hash);
    check(own.includes('&a='), `Bob's own address still holds the old link: ${own}`);
    return `new link …${newLink.slice(-12)}`;
  });
  await step('the old link admits nobody: members refuse the attempt, the tab is not let in', async () => {
    const before = await Promise.all([alice, bob].map(async (t) => (await e2eeOf(t)).refused.length));
    const again = await openLinkTab('Carol again', link, 'name=Carol%20Again&autojoin=1');
    await waitFor('Alice and Bob refuse the old link', 20, async () => {
      for (const [i, t] of [alice, bob].entries()) {
        const fresh = (await e2eeOf(t)).refused.slice(before[i]);
        if (!fresh.some((r) => r.what === 'join')) return `${t.label} refused ${JSON.stringify(fresh)}`;
      }
      return true;
    });
    const e = await e2eeOf(again);
    check(e.state === 'waiting', `the old-link tab is ${e.state}, expected still waiting`);
    for (const t of [alice, bob]) check((await e2eeOf(t)).roster.length === 2, `${t.label} let someone in`);
    await again.context.close();
  });
  await step('the new link admits: Dave joins, three members agree on one code', async () => {
    const frag = newLink.slice(newLink.indexOf('#'));
    const dave = await openTab('Dave', link.room, `${frag}&name=Dave%20Dunlin&autojoin=1`);
    await waitJoined([dave], 30);
    await waitFor('Alice, Bob and Dave agree', 30, async () => {
      const es = await Promise.all([alice, bob, dave].map((t) => e2eeOf(t)));
      if (es.some((x) => x.state !== 'member' || x.roster.length !== 3)) return JSON.stringify(es.map((x) => [x.state, x.roster.length]));
      return new Set(es.map((x) => x.code)).size === 1 || 'codes differ';
    });
    check((await shareLink(dave)) === newLink, `Dave shows ${await shareLink(dave)}`);
  });
}

main(scenario, { label: 'revocation', timeoutS: 150 });
