// Issue 17.8: the participant's view is calm and private. The title fits
// on a phone; "Connected" is not shown (only trouble is); a line says what
// the room is and is not, which the host can reword; helplines are tel:
// and sms: links; when the room closes, a word of thanks and where to find
// support. At 360 and 1280 px.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Processes, launch, person, token, joinRoom, openRoom, ask, screenshot } from "./support.mjs";

const processes = new Processes();
let browser;
after(async () => {
  await browser?.close();
  await processes.stopAll();
});

for (const mobile of [true, false]) {
  const width = mobile ? "360px" : "1280px";
  test(`a participant's calm view, from joining to the end of the session (${width})`, { timeout: 120000 }, async () => {
    const { url } = await processes.server();
    browser ??= await launch();
    const room = mobile ? "calm-phone" : "calm-desk";
    const host = await person(browser);
    await openRoom(host, url, token("host", "*", "Dr. Ada", "ada"),
                   { title: "Ask me anything about living with grief after a sudden loss", id: room, approval: false });
    const pat = await person(browser, { mobile });
    if (!mobile) await pat.setViewportSize({ width: 1280, height: 900 });
    await joinRoom(pat, url, room, "");

    // The title fits: at most two lines, nothing wider than the screen.
    const title = pat.locator("#room-title");
    await title.locator("text=living with grief").waitFor();
    const lines = await title.evaluate((element) =>
      element.getBoundingClientRect().height / parseFloat(getComputedStyle(element).lineHeight));
    assert.ok(lines <= 2.05, `the title takes ${lines.toFixed(2)} lines`);
    const overflow = await pat.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);

    // Connected: nothing shown about it.
    const badge = await pat.locator("#connection").boundingBox();
    assert.ok(badge.width <= 1 && badge.height <= 1, "no 'Connected' badge while all is well");
    assert.equal(await pat.locator("#connection").textContent(), "Connected", "still told to screen readers");

    // What the room is, and is not; the host rewords it.
    const notice = pat.locator("#care-notice");
    assert.equal(await notice.textContent(), "This is a live Q&A with the host, not therapy or emergency care.");
    const reworded = "Dr. Ada answers general questions here; this is not therapy, and not for emergencies.";
    await host.fill("#setting-care-notice", reworded);
    await host.click("#save-care-notice");
    await pat.locator(`#care-notice:text-is("${reworded}")`).waitFor();

    // Words that suggest a crisis: helplines to call or text at a touch.
    await ask(pat, "I want to end my life tonight");
    const support = pat.locator("#support");
    await support.locator("h2:text-is('You are not alone')").waitFor();
    assert.equal(await support.locator('a[href="tel:988"]').count(), 1);
    assert.equal(await support.locator('a[href="sms:988"]').count(), 1, "988 takes texts");
    assert.equal(await support.locator('a[href="tel:116123"]').count(), 1);
    assert.equal(await support.locator('a[href="sms:116123"]').count(), 0, "Samaritans' number is for calls");
    await screenshot(pat, `participant-support-${width}`);
    await support.locator("button:text-is('Close')").click();

    // The session ends: thanks, and where to find support.
    host.once("dialog", (dialog) => dialog.accept());
    await host.click("#close-room");
    const ended = pat.locator("#session-ended");
    await ended.locator("h2:text-is('This session has ended')").waitFor();
    await ended.locator('a[href="tel:116123"]').waitFor();
    await ended.locator('a[href="https://findahelpline.com"]').waitFor();
    assert.equal(await pat.locator("#ask-text").isVisible(), false, "nothing more to post");
    await screenshot(pat, `participant-ended-${width}`);

    for (const page of [host, pat]) assert.deepEqual(page.errors, []);
  });
}
