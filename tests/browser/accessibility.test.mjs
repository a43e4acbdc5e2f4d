// Issue 17.11: every page of the web client, at 360 and 1280 px, checked
// with axe-core (names, roles, contrast and the rest of WCAG 2.1 A and AA
// that a machine can check), and its keyboard focus order walked with Tab:
// each stop visible, in the order of the page, none skipped by a positive
// tabindex.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { Processes, launch, token, joinRoom, openRoom, ask } from "./support.mjs";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const processes = new Processes();
let browser;
after(async () => {
  await browser?.close();
  await processes.stopAll();
});

// A person whose pages axe can be injected into (the page's CSP allows
// only its own scripts, so the test context bypasses it).
async function visitor(width) {
  const context = await browser.newContext({ viewport: { width, height: 900 }, bypassCSP: true });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error.message));
  return page;
}

// axe's WCAG 2.1 A/AA violations on the page as it is now.
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
  });
}

// Tabs through up to `stops` focus stops from the top of the page: each
// must be visible and come after the one before in the page's order.
async function focusOrder(page, { stops = 40, fewest = 3 } = {}) {
  // Start at the top: the page's first link (the brand), as after a load.
  await page.evaluate(() => {
    for (const element of document.querySelectorAll("[data-focus-stop]")) delete element.dataset.focusStop;
    window.scrollTo(0, 0);
    document.querySelector("a.brand").focus();
  });
  const problems = [];
  let previous = null;
  for (let i = 0; i < stops; ++i) {
    if (i > 0) await page.keyboard.press("Tab");
    const stop = await page.evaluate((index) => {
      const element = document.activeElement;
      if (!element || element === document.body) return null;
      const box = element.getBoundingClientRect();
      element.dataset.focusStop = String(index);
      return { index, label: `${element.tagName.toLowerCase()}#${element.id || ""} ${(element.textContent || "").trim().slice(0, 30)}`,
               visible: box.width > 0 && box.height > 0, tabindex: element.tabIndex };
    }, i);
    if (!stop) break;
    if (!stop.visible) problems.push(`focus stop ${i} (${stop.label}) is not visible`);
    if (stop.tabindex > 0) problems.push(`focus stop ${i} (${stop.label}) has tabindex ${stop.tabindex}`);
    if (previous !== null) {
      const [after, wrapped] = await page.evaluate(([first, before, now]) => {
        const at = (n) => document.querySelector(`[data-focus-stop="${n}"]`);
        const follows = (a, b) => !!(a && b && (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING));
        return [follows(at(before), at(now)), !follows(at(first), at(now))];
      }, [0, previous, i]);
      if (wrapped) break;  // back at the top: the walk is done
      if (!after) problems.push(`focus stop ${i} (${stop.label}) comes before stop ${previous} in the page`);
    }
    previous = i;
  }
  const reached = previous === null ? 0 : previous + 1;
  if (reached < fewest) problems.push(`only ${reached} focus stops`);
  return problems;
}

async function check(page, name, walk = {}) {
  const found = await violations(page);
  const order = await focusOrder(page, walk);
  assert.deepEqual([...found, ...order], [], `${name}: accessibility problems`);
}

for (const width of [360, 1280]) {
  test(`every page passes axe and has a sensible focus order at ${width}px`, { timeout: 180000 }, async () => {
    const { url } = await processes.server();
    browser ??= await launch();
    const room = `a11y-${width}`;
    const hostToken = token("host", "*", "Dr. Ada", "ada");

    // The home page, with the host's form.
    const host = await visitor(width);
    await host.goto(`${url}/#token=${hostToken}`);
    await host.locator("#new-title").waitFor();
    await check(host, "home page");

    // The join page.
    const pat = await visitor(width);
    await pat.goto(`${url}/r/${room}`);
    await pat.locator("#display-name").waitFor();
    await check(pat, "join page");

    // The host's console with a question waiting, one open, the share
    // panel and the room tools; the participant's room with the support
    // panel open.
    await openRoom(host, url, hostToken, { title: "Ask me anything: loneliness", id: room });
    await joinRoom(pat, url, room, "Pat");
    await ask(pat, "How do I make friends as an adult?");
    await ask(pat, "I want to end my life tonight");
    await host.locator("#approval-queue .question >> nth=1").waitFor();
    await host.locator("#approval-queue .question", { hasText: "make friends" })
      .locator("button:text-is('Approve')").click();
    await pat.locator("#support h2").waitFor();
    await host.locator("#alerts .alert").waitFor();
    await check(host, "host's room");
    await check(pat, "participant's room");

    // The presenter view, answering.
    await host.locator("#questions .question", { hasText: "make friends" })
      .locator("button:text-is('Answer now')").click();
    const presenter = await visitor(width);
    await presenter.goto(`${url}/r/${room}/present#token=${hostToken}`);
    await presenter.locator("#present-question").waitFor();
    await check(presenter, "presenter view", { fewest: 1 });  // nothing to click but the brand

    // A support room's chat, and the end of a session.
    const support = `a11y-support-${width}`;
    const host2 = await visitor(width);
    await host2.goto(`${url}/#token=${hostToken}`);
    await host2.fill("#new-title", "Evening circle");
    await host2.fill("#new-id", support);
    await host2.selectOption("#new-kind", "ROOM_KIND_SUPPORT");
    await host2.click('form:has(#new-title) button[type="submit"]');
    await host2.waitForFunction(() => window.hearth?.room.joined);
    const ria = await visitor(width);
    await joinRoom(ria, url, support, "Ria");
    await ria.fill("#chat-text", "Hello everyone");
    await ria.press("#chat-text", "Enter");
    await host2.locator("#messages >> text=Hello everyone").waitFor();
    await check(ria, "support room");
    host2.once("dialog", (dialog) => dialog.accept());
    await host2.click("#close-room");
    await ria.locator("#session-ended a").first().waitFor();
    await check(ria, "ended session");

    for (const page of [host, pat, presenter, host2, ria]) assert.deepEqual(page.errors, []);
  });
}
