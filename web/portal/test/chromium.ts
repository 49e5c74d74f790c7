// Debian's Chromium, driven by playwright-core (no browser download): where
// it is, how it is started on this closed network, accessibility checks with
// axe-core, screenshots, and polling for a condition.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";

import { ROOT } from "../../client/test/harness.js";

/**
 * The Chromium binary: $MEDSHARE_CHROMIUM, else `chromium` on the PATH. A
 * missing browser fails the tests (never skips them); `make web-test`
 * installs it with apt-get when run as root on Debian.
 */
export function chromiumPath(): string {
  const fromEnv = process.env["MEDSHARE_CHROMIUM"];
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`MEDSHARE_CHROMIUM=${fromEnv} does not exist`);
    return fromEnv;
  }
  try {
    return execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("Chromium is not installed: apt-get install -y chromium (make web-test does it when run as root on Debian)");
  }
}

/** Starts headless Chromium with a fresh profile and nothing that reaches beyond this machine. */
export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A new browser context (its own storage: another device) of the size the screenshots use. */
export function newContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1100, height: 820 }, locale: "en-GB", timezoneId: "UTC" });
}

/** Messages the page logged that say a Content-Security-Policy refused something, or an uncaught error. */
export function watchPage(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    const t = m.text();
    if (/Content Security Policy|Refused to|integrity/i.test(t)) problems.push(`console: ${t}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  return problems;
}

const require = createRequire(import.meta.url);
let axeSource: string | undefined;

/** One violation axe-core found. */
export interface AxeViolation {
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

/**
 * Runs axe-core on the page as it is and returns its critical and serious
 * violations. The script is evaluated through the DevTools protocol, so the
 * page's CSP (which refuses any script but its own) stays in force.
 */
export async function axeCheck(page: Page): Promise<AxeViolation[]> {
  axeSource ??= readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations
      .filter((v) => v.impact === "critical" || v.impact === "serious")
      .map((v) => ({ id: v.id, impact: v.impact ?? "", help: v.help, nodes: v.nodes.map((n) => JSON.stringify(n.target)) }));
  });
}

/**
 * Where the screenshots go: web/portal/build/screenshots on every test run, so
 * that `make test` leaves the tree as it found it, and docs/screenshots (the
 * README's) when MEDSHARE_SCREENSHOTS_DIR names it, as `make screenshots` does.
 */
export const SCREENSHOTS = process.env.MEDSHARE_SCREENSHOTS_DIR
  ? resolve(ROOT, process.env.MEDSHARE_SCREENSHOTS_DIR)
  : join(ROOT, "web", "portal", "build", "screenshots");

/** Saves a full-page screenshot of a view as SCREENSHOTS/NAME.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true, animations: "disabled", caret: "hide" });
}

/**
 * Calls fn until ok(value) holds, and returns that value; throws with the
 * last value after timeoutMs. For conditions outside the page (the server's
 * records, a URL's expiry); the page's own are waited for with locators.
 */
export async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn();
    if (ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: still not the case after ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Presses Tab until the element is focused (at most max times): reaching it with the keyboard alone. */
export async function tabTo(page: Page, target: Locator, max = 60): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    if (await target.evaluate((el) => el === document.activeElement)) return;
  }
  throw new Error(`${target.toString()} was not reached with ${max} presses of Tab`);
}
