/**
 * A headless Chromium for browser tests (playwright-core driving the system
 * browser, no download) and screenshots under test-artifacts/screenshots/.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { chromiumPath } from './tools.js';

/** Where screenshots go (git-ignored). */
export const SCREENSHOT_DIR = resolve(import.meta.dirname, '../../test-artifacts/screenshots');

/** Viewport of every page: small enough for a README image. */
export const VIEWPORT = { width: 1280, height: 800 } as const;

/** Launches headless Chromium (`FLOWGATE_CHROMIUM`, else `chromium` on PATH) with a fresh profile (playwright makes a temporary user-data-dir). */
export function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === undefined) return Promise.reject(new Error('no Chromium: install chromium or set FLOWGATE_CHROMIUM'));
  return chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
}

/** Saves a PNG of the page as `test-artifacts/screenshots/<name>.png`; returns its path. */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: options.fullPage ?? false });
  return path;
}

/**
 * Collects uncaught page errors and console errors, so a test can assert the
 * page ran cleanly.
 */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return errors;
}
