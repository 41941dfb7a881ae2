import { existsSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Files of this package (paths relative to its root, like `dist/viewer.js`), found in the first
 * folder above `start` that holds them all: the bundle, the compiled tests and the installed
 * extension each sit at another depth. Undefined when none does.
 */
export function findPackagedFiles(relativePaths: readonly string[], start: string = __dirname): string[] | undefined {
  let dir = path.resolve(start);
  for (;;) {
    const files = relativePaths.map((relative) => path.join(dir, relative));
    if (files.every((file) => existsSync(file))) return files;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
