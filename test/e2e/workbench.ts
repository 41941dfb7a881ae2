import type { Locator, Page } from './codeServer';

/** How long one step of a UI test may take before it fails. */
export const STEP_TIMEOUT_MS = 60_000;

/** F1, the command typed, its row shown, Enter. */
export async function runFromPalette(page: Page, typed: string, rowText: string): Promise<void> {
  await page.keyboard.press('F1');
  await page.locator('.quick-input-widget input').waitFor({ timeout: STEP_TIMEOUT_MS });
  await page.keyboard.type(typed);
  await page.locator('.quick-input-list .monaco-list-row').filter({ hasText: rowText }).first().waitFor({ timeout: STEP_TIMEOUT_MS });
  await page.keyboard.press('Enter');
}

/** Waits for the quick pick whose title holds `stepMark` to offer `itemText`. */
export async function pickStep(page: Page, stepMark: string, itemText: string): Promise<void> {
  const widget = page.locator('.quick-input-widget').filter({ hasText: stepMark });
  await widget.waitFor({ timeout: STEP_TIMEOUT_MS });
  await widget.locator('.monaco-list-row').filter({ hasText: itemText }).first().waitFor({ timeout: STEP_TIMEOUT_MS });
}

/**
 * Accepts the highlighted item of a Start Sandbox step and waits for the next step. An Enter that
 * lands while the pick redraws its items can be dropped by the workbench: then it is pressed again,
 * at most three times, only while the same step still shows.
 */
export async function acceptStep(page: Page, stepMark: string, nextMark: string): Promise<void> {
  const step = page.locator('.quick-input-widget').filter({ hasText: stepMark });
  const next = page.locator('.quick-input-widget').filter({ hasText: nextMark });
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('Enter');
    try {
      await next.waitFor({ timeout: attempt < 3 ? 5000 : STEP_TIMEOUT_MS });
      return;
    } catch (error) {
      if (attempt >= 3 || (await step.count()) === 0) throw error;
    }
  }
}

export async function clickMenuItem(page: Page, label: string): Promise<void> {
  const menu = page.locator('.context-view .monaco-menu').first();
  const item = menu.locator('.action-item').filter({ hasText: label }).first();
  await item.waitFor({ timeout: STEP_TIMEOUT_MS });
  // A context menu may ignore a click that lands while it is still opening; the item is then
  // focused, so Enter runs it.
  await page.waitForTimeout(300);
  await item.click();
  try {
    await menu.waitFor({ state: 'hidden', timeout: 2000 });
  } catch {
    await page.keyboard.press('Enter');
    await menu.waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS });
  }
}

/** Waits until the text of `locator` matches `pattern`; `what` names it in the failure. */
export async function waitForText(locator: Locator, pattern: RegExp, what: string, timeoutMs = STEP_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = (await locator.innerText().catch(() => '')).replace(/\u00a0/g, ' ');
    if (pattern.test(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the page did not show ${what}; it shows ${JSON.stringify(text.slice(-500))}`);
}

export async function waitForValue<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A probe that throws, at once or later, has no value yet.
    const value = await Promise.resolve()
      .then(probe)
      .catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
