// A peer-support room: people chat, reply and edit; a moderator deletes a
// message, which becomes a tombstone on every page.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Processes, launch, person, token, joinRoom, chat, screenshot, CRISIS_RESOURCES, act } from "./support.mjs";

const processes = new Processes();
let browser;
after(async () => {
  await browser?.close();
  await processes.stopAll();
});

async function send(page, text) {
  await page.fill("#chat-text", text);
  await page.press("#chat-text", "Enter");
  await page.waitForSelector(`#messages .message .text:text-is("${text}")`);
}

test("support room: chat, reply, edit, and a moderator's delete reach every page", { timeout: 120000 }, async () => {
  const { url } = await processes.server();
  browser = await launch();

  const host = await person(browser);
  await host.goto(`${url}/#token=${token("host", "*", "Sam", "sam")}`);
  await host.fill("#new-title", "Tuesday evening group");
  await host.fill("#new-id", "tuesday");
  await host.selectOption("#new-kind", "ROOM_KIND_SUPPORT");
  await host.click('form:has(#new-title) button[type="submit"]');
  await host.waitForURL(`${url}/r/tuesday`);
  await joinRoom(host, url, "tuesday", "");

  const moderator = await person(browser);
  await joinRoom(moderator, url, "tuesday", "", token("moderator", "tuesday", "Mo", "mo"));
  const ria = await person(browser, { mobile: true });
  await joinRoom(ria, url, "tuesday", "Ria");
  const troll = await person(browser);
  await joinRoom(troll, url, "tuesday", "Tee");

  // Roles in the member list.
  await ria.waitForSelector('#members .person:has-text("Mo") .badge.role:text-is("moderator")');
  await ria.waitForSelector('#members .person:has-text("Sam") .badge.role:text-is("host")');

  await send(ria, "Hi all, first time here.");
  await send(troll, "something hurtful");
  // A reply, then an edit of one's own message.
  await host.locator('#messages .message:has-text("first time here") button:has-text("Reply")').click();
  await send(host, "Welcome, Ria. Glad you came.");
  await ria.waitForSelector('#messages .message:has-text("Glad you came") .reply-to:has-text("first time here")');
  await act(ria.locator('#messages .message:has-text("first time here")'), "Edit");
  await ria.fill("#chat-text", "Hi all, first time here. A bit nervous.");
  await ria.press("#chat-text", "Enter");
  for (const page of [host, moderator, troll]) {
    await page.waitForSelector('#messages .message:has-text("A bit nervous") .meta:has-text("edited")');
  }

  // Asking how to help someone gets resources headed as such, not as
  // words for the asker ("You are not alone"), and no alert.
  await send(troll, "How do I help a friend who keeps saying he wants to die?");
  await troll.waitForSelector("#support >> text=If you are worried about someone");
  assert.equal(await troll.isVisible("#support >> text=You are not alone"), false);
  await troll.locator("#support button", { hasText: "Close" }).click();

  // Ria writes words that suggest a crisis: she gets support, the
  // moderator an alert; the others see nothing of either.
  await send(ria, "Some nights I just want to end my life.");
  await ria.waitForSelector("#support >> text=You are not alone");
  // Every line of the server's --crisis-resources (here the shipped file).
  // (Less the links the page adds to text a number that takes texts.)
  const shown = (await ria.textContent("#support")).replaceAll(" (send a text)", "");
  for (const line of readFileSync(CRISIS_RESOURCES, "utf8").split("\n").filter(Boolean)) assert.ok(shown.includes(line), line);
  await moderator.waitForSelector("#alerts .alert >> text=Someone may be in crisis");
  await moderator.waitForSelector('#messages .message.flagged:has-text("end my life") .badge.flagged');
  await troll.waitForSelector('#messages .message:has-text("end my life")');

  // The alert says what Ria was shown. The moderator writes to her
  // privately, then marks the alert handled, which clears it for the host
  // too.
  const crisisAlert = moderator.locator('#alerts .alert:has-text("Someone may be in crisis")');
  await crisisAlert.locator("summary", { hasText: "What they were shown" }).click();
  const firstLine = readFileSync(CRISIS_RESOURCES, "utf8").split("\n").find(Boolean);
  assert.ok((await crisisAlert.textContent()).includes(firstLine), "the alert shows what the writer saw");
  await crisisAlert.locator('button:has-text("Reply privately")').click();
  await crisisAlert.locator("textarea").fill("I'm Mo, a moderator. I'm here if you want to talk.");
  await crisisAlert.locator('button:has-text("Send privately")').click();
  await ria.waitForSelector("#private-replies >> text=here if you want to talk");
  await host.waitForSelector('#alerts .alert:has-text("Someone may be in crisis")');
  await crisisAlert.locator('button:has-text("Mark handled")').click();
  for (const page of [moderator, host]) {
    await page.waitForSelector('#alerts .alert:has-text("Someone may be in crisis")', { state: "detached" });
    await page.waitForSelector('#attention li:has-text("end my life")', { state: "detached" });
  }

  // Ria reports the hurtful message; the moderator sees it in the queue.
  ria.once("dialog", (dialog) => dialog.accept("unkind"));
  await act(ria.locator('#messages .message:has-text("something hurtful")'), "Report");
  await ria.waitForSelector(".notice >> text=The moderators have your report");
  // The alert says who reported it, and why.
  await moderator.waitForSelector('#alerts .alert:has-text("Ria reported this"):has-text("unkind")');
  await moderator.waitForSelector('#attention li:has-text("something hurtful") >> text=Reported (1)');

  // The moderator removes the hurtful message.
  moderator.once("dialog", (dialog) => dialog.accept());
  await act(moderator.locator('#messages .message:has-text("something hurtful")'), "Delete");
  for (const page of [host, moderator, ria, troll]) {
    await page.waitForSelector('#messages .message.deleted .tombstone');
    assert.equal(await page.locator("#messages").getByText("something hurtful").count(), 0);
  }
  // The deletion came after the crisis alert and the report on every
  // connection, so by now Tee would have heard of either, were he told.
  assert.equal(await troll.isVisible("#alerts"), false, "alerts are for staff only");
  assert.equal(await troll.locator("#alerts .alert").count(), 0, "alerts are for staff only");
  assert.equal(await troll.locator("#messages .badge.flagged").count(), 0, "the flag is for staff only");
  assert.equal(await troll.locator("text=Reported").count(), 0, "the reported person is not told");
  assert.equal(await troll.locator("text=here if you want to talk").count(), 0, "a private reply is for its addressee");
  // The same chat on every page, but for the private reply, which staff see
  // in it (marked) and Ria above it, in "For you from the hosts".
  const isPrivate = (line) => line.text.includes("here if you want to talk");
  const chats = await Promise.all([host, moderator, ria, troll].map(chat));
  assert.equal(chats[0].filter(isPrivate).length, 1);
  assert.equal(chats[1].filter(isPrivate).length, 1);
  const shared = chats.map((lines) => lines.filter((line) => !isPrivate(line)));
  for (const other of shared.slice(1)) assert.deepEqual(other, shared[0], "every page shows the same chat");
  assert.equal(shared[0].length, 5);

  // Participants get no moderation buttons; the moderator does.
  assert.equal(await ria.locator('#members button:has-text("Ban")').count(), 0);
  assert.ok(await moderator.locator('#members .person:has-text("Tee") button:has-text("Mute")').count() > 0);

  // The moderator mutes Tee: Tee can read but no longer write.
  await moderator.locator('#members .person:has-text("Tee") button:has-text("Mute")').click();
  await troll.waitForSelector(".you >> text=muted");
  assert.equal(await troll.isVisible("#chat-text"), false, "a muted member has no message box");
  await host.waitForSelector('#members .person:has-text("Tee") .badge.muted');
  // Who is muted is between the moderators and the member: Ria's list still
  // shows Tee (a small support room lists everyone), without the badge.
  await ria.waitForSelector('#members .person:has-text("Tee")');
  assert.equal(await ria.locator('#members .person:has-text("Tee") .badge.muted').count(), 0);

  // The host downloads the transcript: the deleted message is a tombstone.
  const [download] = await Promise.all([host.waitForEvent("download"), host.click("#download-markdown")]);
  const chunks = [];
  for await (const chunk of await download.createReadStream()) chunks.push(chunk);
  const transcript = Buffer.concat(chunks).toString();
  assert.match(transcript, /A bit nervous/);
  assert.doesNotMatch(transcript, /something hurtful/);

  // The host makes the room private: a newcomer needs the invite link.
  await host.check("#setting-private");
  await host.waitForFunction(() => window.hearth.room.info.settings.inviteOnly === true);
  await host.click("#create-invite");
  // The link appears once the server has answered.
  await host.waitForFunction(() => document.getElementById("invite-link").value !== "");
  const inviteLink = await host.inputValue("#invite-link");
  assert.match(inviteLink, /\/r\/tuesday#invite=/);
  const newcomer = await person(browser);
  await newcomer.goto(`${url}/r/tuesday`);
  await newcomer.click("#join-button");
  await newcomer.waitForSelector("#passcode");
  assert.match(await newcomer.textContent(".private .notice"), /private/);
  await newcomer.goto("about:blank");  // then the link, as from a message
  await newcomer.goto(inviteLink);
  await newcomer.waitForSelector("#join-button");
  assert.equal(new URL(newcomer.url()).hash, "", "the invite leaves the address bar");
  await newcomer.fill("#display-name", "Neo");
  await newcomer.click("#join-button");
  await newcomer.waitForFunction(() => window.hearth?.room.joined);
  await ria.waitForSelector('#members .person:has-text("Neo")');

  // Unticking "Private" asks first: declined, the room stays private and
  // the box ticked; nothing was sent.
  host.once("dialog", (dialog) => dialog.dismiss());
  await host.click("#setting-private");
  assert.equal(await host.isChecked("#setting-private"), true);
  assert.equal(await host.evaluate(() => window.hearth.room.info.settings.inviteOnly), true);

  // And closes the room: everyone sees it, nobody can post.
  host.once("dialog", (dialog) => dialog.accept());
  await host.click("#close-room");
  for (const page of [host, moderator, ria, troll]) await page.waitForSelector(".you >> text=this room is closed");
  assert.equal(await ria.isVisible("#chat-text"), false);

  // Ria erases what she wrote (a right also in a closed room): her words go
  // from every screen, and the host's reply to her stays.
  ria.once("dialog", (dialog) => dialog.accept());
  await ria.click("#your-data summary");
  await ria.click("#erase-mine");
  for (const page of [host, moderator, ria]) {
    await page.waitForFunction(() => !document.getElementById("messages").textContent.includes("A bit nervous"));
  }
  assert.match(await host.textContent("#messages"), /Glad you came/);

  await screenshot(moderator, "support-moderator");
  await screenshot(host, "support-host");
  await screenshot(ria, "support-participant-360px");
  for (const page of [host, moderator, ria, troll, newcomer]) assert.deepEqual(page.errors, []);
});
