// A host and two participants, each in a browser context of their own, run
// an AMA: ask (one anonymously), approve, vote, pin, answer, mark answered;
// every page ends showing the same board.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Processes, launch, person, token, joinRoom, board, act, screenshot } from "./support.mjs";

const processes = new Processes();
let browser;
after(async () => {
  await browser?.close();
  await processes.stopAll();
});

test("an AMA from the host's home page to an answered question, the same on every page", { timeout: 120000 }, async () => {
  const { url } = await processes.server();
  browser = await launch();

  // The host opens the room from the home page with a host link.
  const host = await person(browser);
  await host.goto(`${url}/#token=${token("host", "*", "Dr. Ada", "ada")}`);
  assert.equal(new URL(host.url()).hash, "", "the token leaves the address bar at once");
  await host.fill("#new-title", "Ask me anything about sleep");
  await host.fill("#new-id", "sleep-ama");
  await host.click('form:has(#new-title) button[type="submit"]');
  await host.waitForURL(`${url}/r/sleep-ama`);
  await joinRoom(host, url, "sleep-ama", "");
  await host.waitForSelector("#room-title >> text=Ask me anything about sleep");

  const pat = await person(browser, { mobile: true });
  await joinRoom(pat, url, "sleep-ama", "Pat");
  const anon = await person(browser);
  await joinRoom(anon, url, "sleep-ama", "");
  await anon.waitForSelector(".you >> text=/Guest-\\d{4}/");  // no name given: a pseudonym

  // Who is here: everyone sees how many and who the host is; participants
  // never see one another, the host sees everyone.
  for (const page of [pat, anon]) {
    await page.waitForSelector('section.members h2:text-is("Here now (3)")');
    await page.waitForSelector('#members .person:has-text("Dr. Ada") .badge.role:text-is("host")');
    assert.equal(await page.locator("#members .person").count(), 1, "only the host is listed to a participant");
    assert.match(await page.textContent("#people-note"), /Participants can't see who else is here, and only hosts and moderators see that you are/);
  }
  await host.waitForSelector('#members .person:has-text("Pat")');
  assert.equal(await host.locator("#members .person").count(), 3, "the host sees everyone");
  assert.equal(await host.isVisible("#people-note"), false);

  // Questions wait for approval: the host sees them queued, the others do not.
  await pat.fill("#ask-text", "How many hours do teenagers need?");
  await pat.click("#ask-button");
  await anon.fill("#ask-text", "Is it bad that I wake at 3am every night?");
  await anon.check("#ask-anonymous");
  await anon.click("#ask-button");
  await host.waitForSelector("#approval-queue .question >> nth=1");
  assert.equal(await host.locator("#approval-queue").getByText("Anonymous").count(), 1, "the host does not see who");
  await pat.waitForSelector("#questions .badge.pending");
  assert.equal(await pat.locator("#questions .question").count(), 1, "Pat sees only their own pending question");

  // One at a time: each approval redraws the queue.
  for (let left = 2; left > 0; --left) {
    await host.locator("#approval-queue button:has-text('Approve')").first().click();
    await host.waitForFunction((n) => document.querySelectorAll("#approval-queue .question").length === n, left - 1);
  }
  for (const page of [host, pat, anon]) await page.waitForSelector("#questions .question >> nth=1");

  // Votes: the anonymous participant and the host vote for Pat's question.
  const patsQuestion = anon.locator("#questions .question", { hasText: "How many hours" });
  await patsQuestion.locator("button.vote").click();
  await anon.waitForSelector('#questions .question:has-text("How many hours") button.vote[aria-pressed="true"]');
  await host.locator("#questions .question", { hasText: "How many hours" }).locator("button.vote").click();
  await pat.waitForSelector('#questions .question:has-text("How many hours") .vote .count:text-is("2")');

  // The host answers it live.
  const hostsView = host.locator("#questions .question", { hasText: "How many hours" });
  await hostsView.locator("button:has-text('Answer now')").click();
  for (const page of [host, pat, anon]) await page.waitForSelector("#answering-now >> text=How many hours");
  await act(hostsView, "Write answer");
  await host.fill("#answer-text", "Eight to ten, and a regular wake-up time matters most.");
  await host.click("#answer-button");
  await pat.waitForSelector(".answer >> text=Eight to ten");
  // Screen readers hear of the answer (the live region is set a moment later).
  await pat.waitForFunction(() => /New answer/.test(document.getElementById("announcer").textContent));
  await hostsView.locator("button:text-is('Answered')").click();  // the one action in view while answering
  for (const page of [host, pat, anon]) {
    await page.waitForSelector('#questions .question:has-text("How many hours") .badge.answered');
  }

  const boards = await Promise.all([host, pat, anon].map(board));
  assert.equal(boards[0].length, 2);
  assert.deepEqual(boards[1], boards[0], "Pat sees the host's board");
  assert.deepEqual(boards[2], boards[0], "the anonymous participant sees the host's board");
  assert.equal(boards[0][0].answer, "Eight to ten, and a regular wake-up time matters most.");
  assert.equal(boards[0][0].votes, "2");

  // Readable on a phone: nothing wider than the screen.
  const overflow = await pat.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 360px`);

  await screenshot(host, "ama-host");
  await screenshot(pat, "ama-participant-360px");
  await screenshot(anon, "ama-anonymous");
  for (const page of [host, pat, anon]) assert.deepEqual(page.errors, []);
});
