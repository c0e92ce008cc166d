/**
 * The dashboard's browser tests run in Debian's Chromium driven by playwright-core. CI installs
 * Chromium (.ci/run) and sets FLOWSTORE_BROWSER_TESTS=1, which makes a missing browser a failure;
 * elsewhere those tests skip. Screenshots are kept under SCREENSHOTS as the tests' artefacts.
 */
import { existsSync, mkdirSync } from "node:fs";
import { chromium, type Page } from "playwright-core";
import { TESTED_DRIVERS } from "../support/harness.js";

export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = ".test-data/dashboard";
export const browserRequired = process.env.FLOWSTORE_BROWSER_TESTS === "1";
export const haveChromium = existsSync(CHROMIUM);
/**
 * The browser tests drive a dashboard over a PGlite store, the same whatever the run's server: the
 * version matrix, which tests the server's side only, leaves them to npm test.
 */
export const runBrowserTests = haveChromium && TESTED_DRIVERS.some((d) => d.name === "pglite");

/** What went wrong on a page, as it happens: its uncaught errors and the errors it logs. */
export function pageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("pageerror", (e: Error) => problems.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  return problems;
}

export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/**
 * `visit` on a page of Chromium (1280 by 900), screenshots going under SCREENSHOTS; returns what went
 * wrong on the page meanwhile (pageProblems), the browser closed however `visit` ends.
 */
export async function inChromium(visit: (page: Page) => Promise<void>): Promise<string[]> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = pageProblems(page);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await visit(page);
    return problems;
  } finally {
    await browser.close();
  }
}
