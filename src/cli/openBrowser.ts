import { spawn } from 'node:child_process';

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
