// Issue 17.6: the host's console. One action in view per question ("Answer
// now", then "Answered"), the rest under "…" with Delete last and
// confirmed; "Approve all" (which leaves a question flagged for support to
// a person); filters with counts; counts of people and questions; no "Ask"
// box until the host wants one. At 1200 and 360 px.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Processes, launch, person, token, joinRoom, openRoom, ask, act, screenshot } from "./support.mjs";

const processes = new Processes();
let browser;
after(async () => {
  await browser?.close();
  await processes.stopAll();
});

// The buttons of a question's action row that are in view, by label.
function inViewActions(item) {
  return item.locator(".actions > button:visible").allTextContents();
}

for (const mobile of [false, true]) {
  const width = mobile ? "360px" : "1200px";
  test(`the host runs an AMA from a calm console (${width})`, { timeout: 150000 }, async () => {
    const { url } = await processes.server();
    browser ??= await launch();
    const room = mobile ? "console-phone" : "console-desk";
    const host = await person(browser, { mobile });
    await openRoom(host, url, token("host", "*", "Dr. Ada", "ada"), { title: "Ask me anything: anxiety", id: room });

    // No "Ask" box for the host until asked for.
    assert.equal(await host.locator("#ask-text").isVisible(), false);
    assert.equal(await host.locator("#show-ask").isVisible(), true);

    const people = [];
    for (const name of ["Pat", "Sam"]) {
      const page = await person(browser, { mobile: true });
      await joinRoom(page, url, room, name);
      people.push(page);
    }
    const [pat, sam] = people;
    const asked = ["Does exercise help?", "How do I explain it to my boss?", "Is medication forever?"];
    for (const text of asked) await ask(pat, text);
    await ask(sam, "I want to end my life tonight");  // flagged: a person must look at it
    await host.locator("#approval-queue .question >> nth=3").waitFor();
    await host.locator("#board-stats:text-is('3 here · 4 waiting · 0 open · 0 answered')").waitFor();

    // Approve all: the three, not the flagged one.
    await host.click("#approve-all:text-is('Approve all 3')");
    await host.locator("#filter-open:text-is('Open (3)')").waitFor();
    const waiting = host.locator("#approval-queue .question");
    assert.equal(await waiting.count(), 1);
    await waiting.locator(".badge:text-is('May need support')").waitFor();
    for (const text of asked) await sam.locator(`#questions >> text=${text}`).waitFor();

    // One action in view per question: "Answer now", then "Answered".
    const item = (text) => host.locator("#questions .question", { hasText: text });
    assert.deepEqual(await inViewActions(item(asked[0])), ["Answer now"]);
    assert.equal(await item(asked[0]).locator("button:text-is('Delete')").isVisible(), false,
                 "Delete waits under …");
    await item(asked[0]).locator("button:text-is('Answer now')").click();
    await item(asked[0]).locator(".badge:text-is('Answering now')").waitFor();
    assert.deepEqual(await inViewActions(item(asked[0])), ["Answered"]);
    await item(asked[0]).locator("details.more > summary").click();
    await screenshot(host, `console-menu-${width}`);
    await item(asked[0]).locator("button:text-is('Answered')").click();
    await host.locator("#filter-answered:text-is('Answered (1)')").waitFor();
    await host.locator("#board-stats:text-is('3 here · 1 waiting · 2 open · 1 answered')").waitFor();

    // Filters: what each shows.
    await host.click("#filter-open");
    await host.waitForFunction(() => document.querySelectorAll("#questions .question").length === 2);
    await host.click("#filter-answered");
    await item(asked[0]).waitFor();
    assert.equal(await host.locator("#questions .question").count(), 1);
    await host.click("#filter-all");
    await host.waitForFunction(() => document.querySelectorAll("#questions .question").length === 3);

    // Delete is confirmed: declined for one question, accepted for another.
    // Events come in order, so once the second's tombstone is there, a
    // delete of the first would have been seen.
    host.once("dialog", (dialog) => dialog.dismiss());
    await act(item(asked[1]), "Delete");
    // Focus is back on the menu's "…", not on a button the closed menu hides.
    assert.equal(await host.evaluate(() => document.activeElement?.closest("details.more")?.dataset.menu &&
                                           document.activeElement.tagName), "SUMMARY");
    host.once("dialog", (dialog) => dialog.accept());
    await act(item(asked[2]), "Delete");
    await pat.locator("#questions .tombstone").waitFor();
    assert.equal(await pat.locator("#questions .tombstone").count(), 1);
    await pat.locator("#questions .question .text", { hasText: asked[1] }).waitFor();

    // A participant's own "Report" on others' questions waits under … too.
    const samsView = sam.locator("#questions .question", { hasText: asked[1] });
    assert.deepEqual(await inViewActions(samsView), []);
    assert.equal(await samsView.locator("button:text-is('Report')").isVisible(), false);
    await samsView.locator("details.more > summary").click();
    assert.equal(await samsView.locator("button:text-is('Report')").isVisible(), true);

    // The host may still ask.
    await ask(host, "What would you like to hear about next?");
    await pat.locator("#questions >> text=What would you like to hear about next?").waitFor();
    await host.click("#filter-all");
    await screenshot(host, `console-host-${width}`);
    if (mobile) await screenshot(sam, "console-participant-360px");

    const overflow = await host.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the host's page scrolls sideways by ${overflow}px`);
    for (const page of [host, pat, sam]) assert.deepEqual(page.errors, []);
  });
}
