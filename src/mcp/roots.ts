import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SandboxError } from '../core/errors';

/**
 * The host folders a client may name for sync: those it declares through MCP roots, else the
 * server's `--root` folders, else the folder it was started in. A client that declares roots
 * and lists none gets none: it opens nothing.
 */
export interface HostRoots {
  /** Absolute folders, not yet resolved through symlinks. */
  folders(): Promise<string[]>;
}

/** The fixed roots of the server's command line (or its working directory). */
export function fixedRoots(roots: string[], cwd: string = process.cwd()): HostRoots {
  const folders = roots.length > 0 ? roots.map((root) => path.resolve(cwd, root)) : [cwd];
  return { folders: () => Promise.resolve(folders) };
}

/** Folders of an MCP roots listing: `file://` URIs only; any other scheme names no host folder. */
export function foldersOfRootUris(uris: string[]): string[] {
  const folders: string[] = [];
  for (const uri of uris) {
    try {
      if (uri.startsWith('file://')) folders.push(fileURLToPath(uri));
    } catch {
      // a malformed URI opens nothing
    }
  }
  return folders;
}

/** The real path of `target`, through symlinks; for a path not there yet, the real path of its nearest existing folder with the rest appended. */
async function realPathOf(target: string): Promise<string> {
  const missing: string[] = [];
  let current = target;
  for (;;) {
    try {
      return path.join(await fs.realpath(current), ...missing.reverse());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      const parent = path.dirname(current);
      if (parent === current) return target;
      missing.push(path.basename(current));
      current = parent;
    }
  }
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/**
 * The real path of a host path an agent named, when it lies inside one of the roots (both judged
 * after resolving symlinks, so a link inside a root that leads out of it is refused); otherwise a
 * refusal that names the roots.
 */
export async function confinedPath(requested: string, roots: HostRoots, what: string): Promise<string> {
  if (typeof requested !== 'string' || requested.trim() === '' || requested.includes('\0')) {
    throw new SandboxError('invalid-input', `Give the ${what} as a host path.`);
  }
  const folders = await roots.folders();
  if (folders.length === 0) {
    throw new SandboxError('invalid-input', `The ${what} ${requested} is refused: the client declares no roots, so no host folder is open to this server.`);
  }
  const base = folders[0]!;
  const real = await realPathOf(path.resolve(base, requested));
  for (const folder of folders) {
    if (isInside(real, await realPathOf(folder))) return real;
  }
  throw new SandboxError(
    'invalid-input',
    `The ${what} ${requested} is outside the folders open to this server (${folders.join(', ')}); give a path inside one of them.`,
  );
}
