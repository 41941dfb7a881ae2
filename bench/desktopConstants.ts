import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const E2E_HOST_DIR = path.join(REPO_ROOT, 'test', 'e2e', 'host');
export const CHROMIUM = '/usr/bin/chromium';
export const GEOMETRY = { width: 1280, height: 800 };
/** Our viewer's toolbar (media/viewer.css): the page is that much taller than the desktop, so it shows unscaled. */
export const TOOLBAR_HEIGHT = 30;
/** Generous: a loaded 2-core machine runs the desktop, the browser and the bridges at once. */
export const STEP_TIMEOUT_MS = 90_000;
export const CHANGE_TIMEOUT_MS = 30_000;
export const OPEN_RUNS = 5;
/** Changes per viewer, in blocks that alternate ours and the baseline (ABBA) so drift in the machine's load hits both alike. */
export const CHANGE_BLOCKS = 4;
export const CHANGES_PER_BLOCK = 10;
export const IDLE_MS = 20_000;
/** Far apart, so a lossy encoding cannot make one look like another. */
export const FLASH_COLOURS: Array<[number, number, number]> = [
  [0xff, 0x00, 0x00],
  [0x00, 0x00, 0xff],
  [0x00, 0xc0, 0x00],
  [0xff, 0xff, 0x00],
];
