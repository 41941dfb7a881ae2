import { spawn } from 'node:child_process';
import { writeRedirectPage } from '../core/util/redirectPage';

/** The program that opens a URL in the desktop's browser, by platform. */
export function browserCommand(url: string, platform: NodeJS.Platform = process.platform): [string, string[]] {
  if (platform === 'darwin') return ['open', [url]];
  // start's first quoted argument is a window title; the URL comes after it.
  if (platform === 'win32') return ['cmd', ['/c', 'start', '""', url.replace(/&/g, '^&')]];
  return ['xdg-open', [url]];
}

/** Opens a URL in the browser; resolves whether the opener could be started (not whether a browser showed it). */
export function openBrowser(url: string): Promise<boolean> {
  const [program, args] = browserCommand(url);
  return new Promise((resolve) => {
    try {
      const child = spawn(program, args, { stdio: 'ignore', detached: true });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

/**
 * Opens a URL that carries a token through a redirect page of the state dir (see
 * redirectPage.ts), so that the token is on no command line; resolves as openBrowser does, false
 * too when the page could not be written.
 */
export async function openBrowserWithToken(url: string, stateRoot: string, open: (target: string) => Promise<boolean> = openBrowser): Promise<boolean> {
  const page = await writeRedirectPage(stateRoot, url).catch(() => undefined);
  return page !== undefined && open(page);
}
