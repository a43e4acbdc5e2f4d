// Flaky networks: a participant's node dies mid-session and comes back,
// and their socket is cut; the page reconnects by itself, resumes, and ends
// with the complete board: nothing missing, nothing twice, and a question
// typed while offline sent once.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Processes, launch, person, token, joinRoom, board, ask, act, screenshot } from "./support.mjs";

const processes = new Processes();
let browser;
after(async () => {
  await browser?.close();
  await processes.stopAll();
});

test("a participant rides out a node crash and a cut socket without losing or repeating anything",
     { timeout: 180000 }, async () => {
  const redis = await processes.redis();
  const nodeA = await processes.server({ redis });
  const nodeB = await processes.server({ redis });
  browser = await launch();

  // The host is on node B, the participant on node A.
  const host = await person(browser);
  await host.goto(`${nodeB.url}/#token=${token("host", "*", "Dr. Ada", "ada")}`);
  await host.fill("#new-title", "Night shifts");
  await host.fill("#new-id", "shifts");
  await host.uncheck("#new-approval");
  await host.click('form:has(#new-title) button[type="submit"]');
  await host.waitForURL(`${nodeB.url}/r/shifts`);
  await joinRoom(host, nodeB.url, "shifts", "");
  const pat = await person(browser);
  await joinRoom(pat, nodeA.url, "shifts", "Pat");
  const patId = await pat.evaluate(() => window.hearth.room.you.userId);
  await ask(pat, "Before the crash");
  await host.waitForSelector("#questions >> text=Before the crash");
  await host.locator('#questions .question:has-text("Before the crash") button.vote').click();

  // Node A dies; the page says so and keeps trying.
  await processes.crash(nodeA.child);  // on purpose: the node dies without a word
  await pat.waitForSelector('#connection[data-state="reconnecting"]');
  // Meanwhile the room goes on on node B.
  for (const text of ["While A was down 1", "While A was down 2", "While A was down 3"]) await ask(host, text);
  const answered = host.locator('#questions .question:has-text("Before the crash")');
  await act(answered, "Write answer");
  await host.fill("#answer-text", "Answered while you were away.");
  await host.click("#answer-button");
  await host.waitForSelector(".answer >> text=Answered while you were away.");
  // Pat types a question while offline: it waits, visibly.
  await ask(pat, "Typed while offline");
  await pat.waitForSelector('.outbox-item[data-status="queued"]');
  await screenshot(pat, "reconnect-offline");

  // Node A comes back on the same address; the page resumes by itself.
  const again = await processes.server({ redis, port: nodeA.port });
  assert.equal(again.port, nodeA.port);
  await pat.waitForSelector('#connection[data-state="open"]', { timeout: 60000 });
  await pat.waitForSelector("#questions >> text=Typed while offline");
  await pat.waitForSelector(".outbox-item", { state: "detached" });
  await host.waitForSelector("#questions >> text=Typed while offline");
  await pat.waitForSelector(".answer >> text=Answered while you were away.");

  // Then only the participant's socket is cut, twice, with events between.
  for (let round = 1; round <= 2; ++round) {
    await pat.evaluate(() => window.hearth.connection.drop());
    await ask(host, `Between cuts ${round}`);
    await pat.waitForSelector(`#questions >> text=Between cuts ${round}`, { timeout: 30000 });
  }
  await pat.waitForSelector('#connection[data-state="open"]');
  await host.waitForSelector("#questions >> text=Between cuts 2");

  const [hosts, pats] = await Promise.all([board(host), board(pat)]);
  assert.deepEqual(pats, hosts, "the participant's board is the host's");
  assert.equal(hosts.length, 7);
  assert.equal(new Set(pats.map((q) => q.id)).size, pats.length, "no question twice");
  assert.equal(pats.filter((q) => q.text === "Typed while offline").length, 1, "sent exactly once");
  const voted = await pat.evaluate(() => document.querySelectorAll('button.vote[aria-pressed="true"]').length);
  assert.equal(voted, 0, "Pat never voted; the host's vote is not shown as Pat's");
  assert.equal(await pat.evaluate(() => window.hearth.room.you.userId), patId,
               "Pat came back as Pat each time, with this room's resume token");

  // No secret is within reach of other scripts on the page through the
  // page's global (the host's sign-in, above all).
  for (const page of [host, pat]) {
    const exposed = await page.evaluate(() => [window.hearth.token, window.hearth.invite, window.hearth.passcode]);
    assert.deepEqual(exposed, [undefined, undefined, undefined]);
  }

  // "Forget me on this device": Pat leaves, the tab keeps nothing of Pat,
  // and the same tab coming back is someone new; Pat's question stays.
  await screenshot(pat, "reconnect-after");
  pat.once("dialog", (dialog) => dialog.accept());
  await pat.click("#your-data summary");
  await pat.click("#forget-me");
  await pat.waitForSelector("text=this device no longer remembers you here");
  assert.equal(await pat.evaluate(() => Object.keys(sessionStorage).filter((k) => k.includes("shifts")).length), 0);
  await joinRoom(pat, nodeA.url, "shifts", "");
  assert.notEqual(await pat.evaluate(() => window.hearth.room.you.userId), patId);
  await pat.waitForSelector("#questions >> text=Typed while offline");

  await screenshot(host, "reconnect-host");
  for (const page of [host, pat]) {
    // The lost socket is logged by Chromium as an error; nothing else may be.
    assert.deepEqual(page.errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED/.test(e)), []);
  }
});
