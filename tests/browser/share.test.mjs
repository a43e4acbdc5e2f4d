// Issue 17.5: opening a room takes the host straight in (no second join
// page), where a share panel has the room's link, a copy button, a QR code
// of the link (read back here with zbarimg) and the room code, which a
// participant types in on the home page.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Processes, launch, person, token, OUTPUT, screenshot } from "./support.mjs";

const processes = new Processes();
let browser;
after(async () => {
  await browser?.close();
  await processes.stopAll();
});

for (const mobile of [false, true]) {
  const width = mobile ? "360px" : "1200px";
  test(`the host goes straight in and shares the room (${width})`, { timeout: 120000 }, async () => {
    const { url } = await processes.server();
    browser ??= await launch();
    const room = mobile ? "share-phone" : "share-desk";
    const host = await person(browser, { mobile });
    await host.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: url });

    // Open the room: straight in, as its host.
    await host.goto(`${url}/#token=${token("host", "*", "Dr. Ada", "ada")}`);
    await host.fill("#new-title", "Ask me anything about burnout");
    await host.fill("#new-id", room);
    await host.click('form:has(#new-title) button[type="submit"]');
    await host.waitForURL(`${url}/r/${room}`);
    await host.waitForFunction(() => window.hearth?.room.joined);
    assert.equal(await host.locator("#join-button").count(), 0, "no join page for the host who opened the room");
    assert.equal(await host.evaluate(() => window.hearth.room.you.role), "ROLE_HOST");

    // The share panel: the link, copied; the code.
    const link = `${url}/r/${room}`;
    assert.equal(await host.inputValue("#share-link"), link);
    await host.click("#copy-link");
    await host.locator("#share-copied:text-is('Copied.')").waitFor();
    assert.equal(await host.evaluate(() => navigator.clipboard.readText()), link);
    assert.equal(await host.textContent("#share-code"), room);

    // The QR code is the link.
    const qr = host.locator("#share-qr");
    await qr.scrollIntoViewIfNeeded();
    await host.waitForFunction(() => document.getElementById("share-qr")?.naturalWidth > 0);
    mkdirSync(OUTPUT, { recursive: true });
    const picture = join(OUTPUT, `share-qr-${width}.png`);
    await qr.screenshot({ path: picture });
    assert.equal(execFileSync("zbarimg", ["--raw", "-q", picture]).toString().trim(), link);
    // Only this server's room links are drawn.
    for (const other of ["https://elsewhere.example/r/x", `${link}#invite=secret`]) {
      const response = await fetch(`${url}/qr.svg?link=${encodeURIComponent(other)}`);
      assert.deepEqual([response.status, (await response.json()).error], [400, "invalid_link"], other);
    }
    await screenshot(host, `share-host-${width}`);

    // Someone types the code in on the home page.
    const pat = await person(browser, { mobile: true });
    await pat.goto(url);
    await pat.fill("#room-id", room);
    await pat.click("#join-code");
    await pat.waitForURL(link);
    await pat.fill("#display-name", "Pat");
    await pat.click("#join-button");
    await pat.waitForFunction(() => window.hearth?.room.joined);
    assert.equal(await pat.locator("#share-link").isVisible(), false, "participants get no share panel");
    await host.locator(".members >> text=Pat").waitFor();

    for (const page of [host, pat]) assert.deepEqual(page.errors, []);
  });
}
