// Issue 17.3: a connection that dies without a word. The server is frozen
// (SIGSTOP): its sockets stay open and nothing comes back. The page must
// notice by its own ping (not show "Connected" and "Sending…" for ever),
// say so, reconnect when the server answers again, and resume: the
// question asked into the silence arrives exactly once.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Processes, launch, person, token, joinRoom, openRoom, quickPings, board, screenshot } from "./support.mjs";

const processes = new Processes();
let browser;
let frozen = null;
after(async () => {
  if (frozen) process.kill(frozen, "SIGCONT");
  await browser?.close();
  await processes.stopAll();
});

// Resolves once `count` more pings have been answered.
async function pongs(page, count) {
  const now = await page.evaluate(() => window.hearth.connection.pongs);
  await page.waitForFunction((target) => window.hearth.connection.pongs >= target, now + count, { timeout: 15000 });
}

test("a frozen server is noticed by the page's ping, and the room resumes when it wakes", { timeout: 180000 }, async () => {
  const node = await processes.server();
  browser = await launch();

  const host = await person(browser);
  await quickPings(host);
  await openRoom(host, node.url, token("host", "*", "Dr. Ada", "ada"),
                 { title: "Sleep", id: "sleep", approval: false });
  const pat = await person(browser, { mobile: true });
  await quickPings(pat);
  await joinRoom(pat, node.url, "sleep", "Pat");
  await pat.fill("#ask-text", "Before the freeze");
  await pat.click("#ask-button");
  await host.locator("#questions >> text=Before the freeze").waitFor();

  // Pings are answered while all is well: the page stays connected.
  await pongs(pat, 3);
  assert.equal(await pat.locator("#connection").getAttribute("data-state"), "open");

  frozen = node.child.pid;
  process.kill(frozen, "SIGSTOP");
  const stoppedAt = Date.now();
  await pat.fill("#ask-text", "Asked into the silence");
  await pat.click("#ask-button");
  // Within a ping round and its deadline (1 s + 1.5 s here; 15 s + 10 s by
  // default), the page knows.
  await pat.locator('#connection[data-state="reconnecting"]').waitFor({ timeout: 15000 });
  await host.locator('#connection[data-state="reconnecting"]').waitFor({ timeout: 15000 });
  const noticedMs = Date.now() - stoppedAt;
  console.log(`half-dead connection noticed after ${noticedMs} ms`);
  await pat.locator("#offline-banner").waitFor();
  // The question is not left "Sending…": it waits, or is being checked.
  await pat.locator('#ask-status .outbox-item:not([data-status="sending"])').waitFor({ timeout: 10000 });
  await screenshot(pat, "half-dead-360px");

  process.kill(frozen, "SIGCONT");
  frozen = null;
  for (const page of [pat, host]) {
    await page.locator('#connection[data-state="open"]').waitFor({ timeout: 60000 });
    await page.locator("#questions >> text=Asked into the silence").waitFor({ timeout: 30000 });
  }
  await pat.locator("#ask-status .outbox-item").waitFor({ state: "detached", timeout: 30000 });
  await pat.locator("#offline-banner").waitFor({ state: "hidden" });
  // Pings after the reconnection keep it open.
  await pongs(pat, 3);
  assert.equal(await pat.locator("#connection").getAttribute("data-state"), "open");

  const [hosts, pats] = await Promise.all([board(host), board(pat)]);
  assert.deepEqual(pats, hosts, "the participant's board is the host's");
  assert.equal(pats.filter((q) => q.text === "Asked into the silence").length, 1, "arrived exactly once");
  assert.equal(pats.length, 2);

  for (const page of [host, pat]) {
    assert.deepEqual(page.errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED/.test(e)), []);
  }
});
