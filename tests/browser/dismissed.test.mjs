// Issue 17.4: what the host dismisses leaves the board for a list of its
// own, and can be taken back: at once ("Undo" in view) or later (from the
// dismissed list), back into the approval queue; the participant who asked
// is never told more than "Not taken".
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Processes, launch, person, token, joinRoom, openRoom, inView, screenshot } from "./support.mjs";

const processes = new Processes();
let browser;
after(async () => {
  await browser?.close();
  await processes.stopAll();
});

for (const mobile of [false, true]) {
  const width = mobile ? "360px" : "1200px";
  test(`dismissed questions are kept apart, with undo (host at ${width})`, { timeout: 120000 }, async () => {
    const { url } = await processes.server();
    browser ??= await launch();
    const room = `dismiss-${mobile ? "phone" : "desk"}`;
    const host = await person(browser, { mobile });
    await openRoom(host, url, token("host", "*", "Dr. Ada", "ada"), { title: "Grief and work", id: room });
    const pat = await person(browser, { mobile: true });
    await joinRoom(pat, url, room, "Pat");
    for (const text of ["Buy my course?", "How do I tell my boss?"]) {
      await pat.fill("#ask-text", text);
      await pat.click("#ask-button");
      await host.locator(`#approval-queue >> text=${text}`).waitFor();
    }
    const queued = (text) => host.locator("#approval-queue .question", { hasText: text });

    // Dismissed: off the queue and off the board, with an undo in view.
    await queued("Buy my course?").locator("button:text-is('Dismiss')").click();
    await queued("Buy my course?").waitFor({ state: "detached" });
    assert.equal(await host.locator("#questions .question", { hasText: "Buy my course?" }).count(), 0,
                 "a dismissed question is not on the host's board");
    const undo = host.locator("#undo-bar");
    await undo.locator("text=Dismissed “Buy my course?”.").waitFor();
    assert.ok(await inView(undo), "the undo is where the host is looking");
    await screenshot(host, `dismissed-undo-${width}`);
    await host.click("#undo-button");
    await queued("Buy my course?").waitFor();
    assert.equal(await undo.textContent(), "", "the undo was used");

    // Dismissed again, then taken back from the dismissed list.
    await queued("Buy my course?").locator("button:text-is('Dismiss')").click();
    await queued("Buy my course?").waitFor({ state: "detached" });
    await pat.locator('#questions .question:has-text("Buy my course?") .badge:text-is("Not taken")').waitFor();
    const filter = host.locator("#filter-dismissed");
    assert.equal(await filter.textContent(), "Dismissed (1)");
    await filter.click();
    const kept = host.locator("#questions .question", { hasText: "Buy my course?" });
    await kept.waitFor();
    assert.equal(await filter.getAttribute("aria-pressed"), "true");
    assert.equal(await host.locator("#questions .question").count(), 1, "only the dismissed one");
    await screenshot(host, `dismissed-list-${width}`);
    await kept.locator("button:text-is('Undo dismissal')").click();
    await queued("Buy my course?").waitFor();
    await host.locator("#filter-dismissed:text-is('Dismissed (0)')").waitFor();
    await host.click("#filter-all");

    // It is a waiting question like any other: approved, everyone sees it.
    await queued("Buy my course?").locator("button:text-is('Approve')").click();
    await host.locator("#questions >> text=Buy my course?").waitFor();
    await pat.locator('#questions .question:has-text("Buy my course?") .badge', { hasText: "Not taken" })
      .waitFor({ state: "detached" });

    for (const page of [host, pat]) assert.deepEqual(page.errors, []);
  });
}
