import * as assert from 'node:assert/strict';
import { lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import * as path from 'node:path';

export function isLink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Every symlink under `root` is relative, climbs only first and never above `root`, and where
 * it resolves at all, resolves inside `root`.
 */
export function assertLinksStayInside(root: string): void {
  const realRoot = realpathSync(root);
  const visit = (relative: string): void => {
    for (const name of readdirSync(path.join(root, relative))) {
      const child = relative ? `${relative}/${name}` : name;
      const file = path.join(root, child);
      const stats = lstatSync(file);
      if (stats.isDirectory()) visit(child);
      if (!stats.isSymbolicLink()) continue;
      const target = readlinkSync(file);
      assert.ok(!path.isAbsolute(target), `${child} -> ${target} is absolute`);
      const parts = target.split('/').filter((part) => part !== '' && part !== '.');
      const ups = parts.findIndex((part) => part !== '..');
      const leading = ups === -1 ? parts.length : ups;
      assert.ok(!parts.slice(leading).includes('..'), `${child} -> ${target} climbs after descending`);
      assert.ok(leading <= child.split('/').length - 1, `${child} -> ${target} climbs above the root`);
      let resolved: string | undefined;
      try {
        resolved = realpathSync(file);
      } catch {
        resolved = undefined; // dangling or a loop: leads nowhere
      }
      if (resolved !== undefined) {
        assert.ok(resolved === realRoot || resolved.startsWith(realRoot + path.sep), `${child} -> ${target} resolves to ${resolved}`);
      }
    }
  };
  visit('');
}
