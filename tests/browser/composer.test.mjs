// Issue 17.2: after "Ask" (online or offline) the page says what became of
// the question right under the box it was typed in, in view on a 360 px
// phone: "Sent to the host for review", "Will send when you are back
// online" (with an offline banner), then what happened once back.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Processes, launch, person, token, joinRoom, openRoom, inView, ask, screenshot } from "./support.mjs";

const processes = new Processes();
let browser;
after(async () => {
  await browser?.close();
  await processes.stopAll();
});

test("every question is confirmed under the composer, online and offline, on a phone and a desk",
     { timeout: 180000 }, async () => {
  const redis = await processes.redis();
  const node = await processes.server({ redis });
  browser = await launch();

  const host = await person(browser);
  await openRoom(host, node.url, token("host", "*", "Dr. Ada", "ada"), { title: "Living with panic", id: "panic" });
  const pat = await person(browser, { mobile: true });
  await joinRoom(pat, node.url, "panic", "");

  // Online, in a room that reviews questions: said under the box, in view.
  await ask(pat, "Does it ever stop for good?");
  const status = pat.locator("#ask-status");
  await status.locator("text=Sent to the host for review").waitFor();
  assert.ok(await inView(status), "the confirmation is where the participant is looking");
  assert.equal(await pat.locator("#offline-banner").isVisible(), false, "no offline banner while connected");
  await screenshot(pat, "composer-review-360px");

  // Offline: a banner, and the question held, said under the box.
  await processes.crash(node.child);
  await pat.locator("#offline-banner").waitFor();
  assert.ok(await inView(pat.locator("#offline-banner")));
  await ask(pat, "What do I do when it starts at night?");
  const held = status.locator('.outbox-item[data-status="queued"]');
  await held.locator("text=Will send when you are back online").waitFor();
  assert.ok(await inView(held), "the held question is in view on a phone");
  assert.equal(await status.locator("text=Sent to the host for review").count(), 0,
               "the earlier confirmation gave way to the new question");
  await screenshot(pat, "composer-offline-360px");

  // Back: sent by itself, and confirmed where it was held.
  const again = await processes.server({ redis, port: node.port });
  assert.equal(again.port, node.port);
  await pat.locator("#offline-banner").waitFor({ state: "hidden", timeout: 60000 });
  await status.locator("text=Sent to the host for review").waitFor({ timeout: 30000 });
  assert.equal(await status.locator(".outbox-item").count(), 0);
  await host.locator("#approval-queue >> text=What do I do when it starts at night?").waitFor({ timeout: 30000 });
  assert.equal(await host.locator("#approval-queue .question", { hasText: "What do I do" }).count(), 1, "sent once");

  // Approved: the confirmation says it is on the board, and shows it.
  await host.locator('#approval-queue .question:has-text("What do I do") button:text-is("Approve")').click();
  await status.locator("text=Your question is on the board.").waitFor();
  await status.locator("button:text-is('Show it')").click();
  await pat.waitForFunction(() => {
    const item = [...document.querySelectorAll("#questions .question")]
      .find((li) => li.textContent.includes("What do I do"));
    const box = item?.getBoundingClientRect();
    return box && box.top >= 0 && box.bottom <= window.innerHeight;
  });
  await status.locator("button:has-text('OK')").click();
  await status.locator(".post-status").waitFor({ state: "detached" });  // the note goes when acknowledged

  // At 1200 px, the host's own question skips the queue: on the board.
  await ask(host, "What helps you most on a bad day?");
  await host.locator("#ask-status >> text=Your question is on the board.").waitFor();
  assert.ok(await inView(host.locator("#ask-status")));
  await screenshot(host, "composer-host-1200px");

  for (const page of [host, pat]) {
    assert.deepEqual(page.errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED/.test(e)), []);
  }
});
