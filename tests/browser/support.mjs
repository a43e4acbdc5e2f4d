// What the browser tests share: real redis-server and hearth-server
// processes on free ports (stopped by PID when the test ends), tokens minted
// by hearth-server itself, and Debian's Chromium driven by playwright-core.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const SERVER_BIN = process.env.HEARTH_SERVER_BIN || join(here, "../../build/ci/server/hearth-server");
export const WEB_ROOT = join(here, "../../clients/web");
// The words of support the server sends (its default --crisis-resources).
export const CRISIS_RESOURCES = join(here, "../../deploy/crisis/resources.txt");
export const OUTPUT = process.env.HEARTH_BROWSER_OUTPUT || join(here, "../../build/browser-output");
const SECRET = "browser-test-secret-0123456789abcdefgh";
const CHROMIUM = process.env.HEARTH_CHROMIUM || "/usr/bin/chromium";

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Resolves once `child` prints a line matching `pattern` (rejects after
// `timeoutMs` or if it exits first).
function waitForLine(child, pattern, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`${what}: no "${pattern}" within ${timeoutMs} ms:\n${seen}`)), timeoutMs);
    const onData = (chunk) => {
      seen += chunk.toString();
      const match = pattern.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk) => (seen += chunk.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before "${pattern}":\n${seen}`));
    });
  });
}

// Everything a test starts, stopped in reverse order by `stopAll`.
export class Processes {
  constructor() {
    this.children = [];
    this.dirs = [];
  }

  async redis() {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "hearth-browser-redis-"));
    this.dirs.push(dir);
    const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", dir], { stdio: ["ignore", "pipe", "pipe"] });
    this.children.push(child);
    await waitForLine(child, /Ready to accept connections/, 10000, "redis-server");
    return `redis://127.0.0.1:${port}`;
  }

  // A hearth-server node; `port` 0 picks one. Resolves with {child, url, port}.
  // Its stderr is kept (child.log) for the checks stopAll makes.
  async server({ port = 0, redis = "" } = {}) {
    const args = ["--port", String(port), "--token-secret", SECRET, "--web-root", WEB_ROOT, "--threads", "2"];
    if (redis) args.push("--engine", "redis", "--redis", redis);
    const child = spawn(SERVER_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
    child.hearth = { log: "", crashed: false };
    child.stderr.on("data", (chunk) => (child.hearth.log += chunk.toString()));
    this.children.push(child);
    const listening = waitForLine(child, /hearth listening on (http:\/\/[0-9.]+:(\d+))/, 15000, "hearth-server");
    await waitForLine(child, /hearth ready/, 15000, "hearth-server");
    const match = await listening;
    return { child, url: match[1], port: Number(match[2]) };
  }

  // Stops `child` with `signal` and resolves with {code, signal} once it has
  // exited, or with null if it is still running after `timeoutMs` (it is
  // then killed).
  stop(child, signal, timeoutMs = 20000) {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        return resolve({ code: child.exitCode, signal: child.signalCode });
      }
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve(null);
      }, timeoutMs);
      child.once("exit", (code, exitSignal) => {
        clearTimeout(timer);
        resolve({ code, signal: exitSignal });
      });
      child.kill(signal);
    });
  }

  // SIGKILL, as a crash would: for a test that kills a node on purpose.
  async crash(child) {
    if (child.hearth) child.hearth.crashed = true;
    await this.stop(child, "SIGKILL");
  }

  // Stops everything with SIGTERM, newest first; then throws (failing the
  // test) if a hearth-server that was not crashed on purpose did not exit
  // with 0 in time, or wrote a sanitizer report to its stderr.
  async stopAll() {
    const problems = [];
    for (const child of this.children.reverse()) {
      const end = await this.stop(child, "SIGTERM");
      if (!child.hearth || child.hearth.crashed) continue;
      const report = sanitizerReport(child.hearth.log);
      if (end === null) problems.push("a hearth-server did not exit within 20 s of SIGTERM");
      else if (end.code !== 0) problems.push(`a hearth-server exited with ${end.code ?? end.signal} on SIGTERM`);
      if (report) problems.push(`a hearth-server reported: ${report}`);
      if (end?.code !== 0 || report) problems.push(`its stderr:\n${child.hearth.log.slice(-8000)}`);
    }
    this.children = [];
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(problems.join("\n"));
  }
}

// The first line of an AddressSanitizer, LeakSanitizer or
// UndefinedBehaviorSanitizer report in `log`, or "".
export function sanitizerReport(log) {
  const line = log.split("\n").find((l) => /ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|WARNING: AddressSanitizer|runtime error:/.test(l));
  return line ?? "";
}

export function token(role, room, name, sub) {
  return execFileSync(SERVER_BIN, ["token", "--role", role, "--room", room, "--name", name, "--sub", sub, "--ttl", "1h"],
                      { env: { ...process.env, HEARTH_TOKEN_SECRET: SECRET } }).toString().trim();
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Without these, Chromium reaches out to Google at start-up, which a
    // closed test network refuses.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
}

// A page in a browser context of its own (its own storage: another person),
// 360 px wide for phones. Page errors fail the test.
export async function person(browser, { mobile = false } = {}) {
  const context = await browser.newContext({ viewport: mobile ? { width: 360, height: 740 } : { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") page.errors.push(message.text());
  });
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(OUTPUT, { recursive: true });
  await page.screenshot({ path: join(OUTPUT, `${name}.png`), fullPage: true });
}

// Opens room `roomId` at `base` and joins it as `name` (empty: pseudonym),
// with `staffToken` in the link's fragment if given. Someone signed in for
// the room goes straight in, without the join form (and `name`).
export async function joinRoom(page, base, roomId, name, staffToken = "") {
  await page.goto(`${base}/r/${roomId}${staffToken ? `#token=${staffToken}` : ""}`);
  await page.waitForFunction(() => document.getElementById("display-name") || window.hearth);
  if (await page.locator("#display-name").count()) {
    await page.fill("#display-name", name);
    await page.click("#join-button");
  }
  await page.waitForSelector('#connection[data-state="open"]');
  await page.waitForFunction(() => window.hearth?.room.joined);
}

// What a page shows of the board, in a form that can be compared across
// viewers: every question (id, text, votes, state badges, answer), sorted by id.
export function board(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("#questions .question")]
      .map((li) => ({
        id: li.dataset.id,
        text: li.querySelector(".body > .text")?.textContent ?? "",
        votes: li.querySelector(".vote .count")?.textContent ?? "",
        badges: [...li.querySelectorAll(".badge")].map((b) => b.textContent).sort().join(","),
        answer: li.querySelector(".answer .text")?.textContent ?? "",
      }))
      .sort((a, b) => Number(a.id) - Number(b.id)));
}

export function chat(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("#messages .message")].map((li) => ({
      id: li.dataset.id,
      text: li.querySelector(".text")?.textContent ?? li.querySelector(".tombstone")?.textContent ?? "",
    })));
}

// The host, signed in with `hostToken`, opens a room from the home page.
export async function openRoom(page, base, hostToken, { title, id, approval = true }) {
  await page.goto(`${base}/#token=${hostToken}`);
  await page.fill("#new-title", title);
  await page.fill("#new-id", id);
  if (!approval) await page.uncheck("#new-approval");
  await page.click('form:has(#new-title) button[type="submit"]');
  await page.waitForURL(`${base}/r/${id}`);
  // Straight in: no join form for the host who opened it.
  await page.waitForFunction(() => window.hearth?.room.joined);
  await page.waitForSelector('#connection[data-state="open"]');
}

// Whether all of `locator`'s element is inside the viewport as the page is
// scrolled now: what someone sees without scrolling.
export async function inView(locator) {
  return locator.evaluate((element) => {
    const box = element.getBoundingClientRect();
    return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
  });
}

// Short ping timings for the page's connection (clients/web/js/connection.js),
// set before its scripts run.
export async function quickPings(page) {
  await page.addInitScript(() => {
    window.hearthTiming = { pingEveryMs: 1000, replyWithinMs: 1500, commandWithinMs: 2000, openWithinMs: 2000 };
  });
}

// Asks `text` on the board; staff first open their "Ask" box.
export async function ask(page, text) {
  await page.locator("#ask-text:visible, #show-ask:visible").first().waitFor();
  if (!(await page.locator("#ask-text").isVisible())) await page.click("#show-ask");
  await page.fill("#ask-text", text);
  await page.click("#ask-button");
}

// Presses the action `label` of a question or message: in view, or under
// its "…" menu.
export async function act(item, label) {
  const button = item.locator(`.actions button:text-is("${label}")`).first();
  if (!(await button.isVisible())) await item.locator("details.more > summary").first().click();
  await button.click();
}
