// Issue 17.7: the presenter view, /r/ROOM/present, opened from the host's
// room tools: the question being answered, large, for sharing the screen
// in a video call, following the host's "Answer now" live; otherwise how
// to join. It joins as the host (no extra person in the room) and has
// nothing to click.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Processes, launch, person, token, joinRoom, openRoom, ask, act, screenshot } from "./support.mjs";

const processes = new Processes();
let browser;
after(async () => {
  await browser?.close();
  await processes.stopAll();
});

test("the presenter view follows the question being answered", { timeout: 120000 }, async () => {
  const { url } = await processes.server();
  browser = await launch();
  const host = await person(browser);
  await openRoom(host, url, token("host", "*", "Dr. Ada", "ada"),
                 { title: "Ask me anything: sleep", id: "present-ama", approval: false });
  const pat = await person(browser, { mobile: true });
  await joinRoom(pat, url, "present-ama", "Pat");
  await host.locator("section.members h2:text-is('Here now (2)')").waitFor();

  const [presenter] = await Promise.all([host.waitForEvent("popup"), host.click("#open-presenter")]);
  presenter.errors = [];
  presenter.on("pageerror", (error) => presenter.errors.push(error.message));
  await presenter.waitForURL(`${url}/r/present-ama/present`);
  await presenter.waitForFunction(() => window.hearth?.room.joined);
  await presenter.locator("#present-idle:text-is('Ask your questions')").waitFor();
  await presenter.locator(".present-join", { hasText: "/r/present-ama" }).waitFor();
  assert.equal(await presenter.evaluate(() => window.hearth.room.you.role), "ROLE_HOST");
  assert.equal(await presenter.locator("main button, main a, main input").count(), 0, "nothing to click");

  const text = "Why do I wake up at 4am and can't fall asleep again?";
  await ask(pat, text);
  const item = host.locator("#questions .question", { hasText: text });
  await item.locator("button:text-is('Answer now')").click();
  const shown = presenter.locator("#present-question");
  await shown.waitFor();
  assert.equal(await shown.textContent(), text);
  const size = await shown.evaluate((element) => parseFloat(getComputedStyle(element).fontSize));
  assert.ok(size >= 32, `the question is large (${size}px)`);
  assert.equal(await presenter.locator(".present-meta").textContent(), "Pat · 0 votes");
  // One more connection of the host's, not one more person.
  assert.equal(await host.locator("section.members h2").textContent(), "Here now (2)");

  await act(item, "Write answer");
  await host.fill("#answer-text", "Early waking is common with stress; keep the same rise time.");
  await host.click("#answer-button");
  await presenter.locator(".present-answer >> text=Early waking is common").waitFor();
  await screenshot(presenter, "present-answering");

  await item.locator("button:text-is('Answered')").click();
  await presenter.locator("#present-idle").waitFor();
  assert.equal(await presenter.locator("#present-question").count(), 0);

  // Opened without the host's sign-in: it says where to open it from.
  const stranger = await person(browser);
  await stranger.goto(`${url}/r/present-ama/present`);
  await stranger.locator("text=Open it from the room's page as its host").waitFor();

  for (const page of [host, pat, presenter, stranger]) assert.deepEqual(page.errors, []);
});
