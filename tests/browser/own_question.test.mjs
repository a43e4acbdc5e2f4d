// Issue 17.1: someone who asks anonymously sees the question as theirs
// (Edit and Delete, never Report) at once, on another tab of theirs, and
// after a reload; everyone else, the host included, sees "Anonymous" and
// may report it. The author edits it in place and everyone sees the edit.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Processes, launch, person, token, joinRoom, act, screenshot } from "./support.mjs";

const processes = new Processes();
let browser;
after(async () => {
  await browser?.close();
  await processes.stopAll();
});

const item = (page, text) => page.locator("#questions .question", { hasText: text });

async function seesAsTheirs(page, text) {
  const question = item(page, text);
  await question.locator(".yours:text-is('Yours (anonymous to others)')").waitFor();
  assert.equal(await question.locator("button:text-is('Edit')").count(), 1, "its author may edit it");
  assert.equal(await question.locator("button:text-is('Delete')").count(), 1, "its author may delete it");
  assert.equal(await question.locator("button:text-is('Report')").count(), 0, "nobody reports their own question");
}

async function seesAsSomeoneElses(page, text) {
  const question = item(page, text);
  await question.waitFor();
  assert.equal(await question.locator(".meta").evaluate((meta) => meta.textContent.startsWith("Anonymous")), true);
  assert.equal(await question.locator(".yours").count(), 0);
  assert.equal(await question.locator("button:text-is('Edit')").count(), 0);
}

test("an anonymous question is its author's on every tab of theirs, and nobody else's", { timeout: 120000 }, async () => {
  const { url } = await processes.server();
  browser = await launch();

  const host = await person(browser);
  await host.goto(`${url}/#token=${token("host", "*", "Dr. Ada", "ada")}`);
  await host.fill("#new-title", "Ask me anything about grief");
  await host.fill("#new-id", "grief-ama");
  await host.click('form:has(#new-title) button[type="submit"]');
  await host.waitForURL(`${url}/r/grief-ama`);
  await joinRoom(host, url, "grief-ama", "");

  // Sam is signed in, on a phone and on a laptop tab of the same browser.
  const samToken = token("participant", "*", "Sam", "sam");
  const samPhone = await person(browser, { mobile: true });
  await joinRoom(samPhone, url, "grief-ama", "", samToken);
  const samTab = await samPhone.context().newPage();
  samTab.errors = [];
  samTab.on("pageerror", (error) => samTab.errors.push(error.message));
  await joinRoom(samTab, url, "grief-ama", "", samToken);
  const pat = await person(browser);
  await joinRoom(pat, url, "grief-ama", "Pat");
  const guest = await person(browser, { mobile: true });
  await joinRoom(guest, url, "grief-ama", "");

  const asked = "Is it normal to feel angry at the person who died?";
  await samPhone.fill("#ask-text", asked);
  await samPhone.check("#ask-anonymous");
  await samPhone.click("#ask-button");
  // Waiting for approval, it is theirs already; the host sees it queued,
  // by nobody.
  await seesAsTheirs(samPhone, asked);
  await seesAsTheirs(samTab, asked);
  const queued = host.locator("#approval-queue .question", { hasText: asked });
  await queued.waitFor();
  assert.equal(await queued.locator(".yours").count(), 0);
  assert.match(await queued.locator(".meta").textContent(), /^Anonymous/);
  await queued.locator("button:text-is('Approve')").click();
  await seesAsSomeoneElses(pat, asked);
  await seesAsSomeoneElses(host, asked);
  await seesAsTheirs(samPhone, asked);
  assert.equal(await item(pat, asked).locator("button:text-is('Report')").count(), 1, "others may report it");

  // A guest with no account: theirs at once, and again after a reload.
  const guestAsked = "How long does the worst of it last?";
  await guest.fill("#ask-text", guestAsked);
  await guest.check("#ask-anonymous");
  await guest.click("#ask-button");
  await seesAsTheirs(guest, guestAsked);
  await host.locator("#approval-queue .question", { hasText: guestAsked }).locator("button:text-is('Approve')").click();
  await seesAsSomeoneElses(samPhone, guestAsked);
  // The page loaded again (the tab keeps its resume token): the join page,
  // then the room, from its snapshot.
  await joinRoom(guest, url, "grief-ama", "");
  await seesAsTheirs(guest, guestAsked);

  // Sam edits it from the other tab; everyone sees the new words, marked
  // edited, and still nobody else sees whose it is.
  const edited = "Is it normal to feel angry at my mother, who died in spring?";
  await act(item(samTab, asked), "Edit");
  await samTab.fill(`#questions textarea[id^="edit-text-"]`, edited);
  await samTab.locator("#questions form.edit button:text-is('Save')").click();
  for (const page of [samPhone, samTab, pat, host]) {
    await item(page, edited).locator(".meta:has-text('edited')").waitFor();
  }
  await seesAsTheirs(samPhone, edited);
  await seesAsSomeoneElses(pat, edited);

  const overflow = await samPhone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 360px`);
  await screenshot(samPhone, "own-question-author-360px");
  await screenshot(pat, "own-question-others");
  for (const page of [host, samPhone, samTab, pat, guest]) assert.deepEqual(page.errors, []);
});
