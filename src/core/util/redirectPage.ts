import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { escapeHtml } from './html';

/** How long a redirect page is kept: time enough for a browser to start and read it. */
export const REDIRECT_PAGE_LIFETIME_MS = 60_000;

/** The folder of the redirect pages: 0700, as the pages hold the URLs' tokens. */
export function redirectPageDir(stateRoot: string): string {
  return path.join(stateRoot, 'run', 'open');
}

/** A page that sends the browser on to `url` at once. */
export function redirectPageHtml(url: string): string {
  const attribute = escapeHtml(url);
  // JSON is a JavaScript string; `<` escaped so that no `</script>` can end the script early.
  const script = JSON.stringify(url).replace(/</g, '\\u003c');
  return [
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8">',
    `<meta http-equiv="refresh" content="0;url=${attribute}">`,
    '<title>Opening…</title>',
    `<script>window.location.replace(${script});</script>`,
    `</head><body><p><a href="${attribute}">Continue</a></p></body></html>`,
    '',
  ].join('\n');
}

/**
 * Writes a page that redirects to `url` (a URL with a token in it) and answers its path, to be
 * opened in the browser instead of the URL: a browser's command line, and the opener's, can be
 * read by every user of the machine (`ps`), a file of mode 0600 in a 0700 folder only by its
 * owner. The page is removed after a minute (a timer that does not keep the process alive), or
 * by the next page written after that.
 */
export async function writeRedirectPage(stateRoot: string, url: string): Promise<string> {
  const dir = redirectPageDir(stateRoot);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700);
  await removeStalePages(dir, Date.now() - REDIRECT_PAGE_LIFETIME_MS);
  const file = path.join(dir, `${randomBytes(12).toString('hex')}.html`);
  await fs.writeFile(file, redirectPageHtml(url), { mode: 0o600, flag: 'wx' });
  setTimeout(() => void fs.rm(file, { force: true }).catch(() => undefined), REDIRECT_PAGE_LIFETIME_MS).unref();
  return file;
}

async function removeStalePages(dir: string, before: number): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (!name.endsWith('.html')) continue;
    const file = path.join(dir, name);
    const stat = await fs.lstat(file).catch(() => undefined);
    if (stat && stat.mtimeMs < before) await fs.rm(file, { force: true }).catch(() => undefined);
  }
}
