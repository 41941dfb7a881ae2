import * as path from 'node:path';

export interface SandboxLink {
  /** The target to write in the sandbox. */
  target: string;
  /** It leads outside the pushed folder: sent as it is, and said in the summary. */
  outside: boolean;
}

/**
 * The target a local link gets in the sandbox. A link that leads into the pushed folder by an
 * absolute path (or by climbing out of it and back in) would dangle there, so it becomes the
 * equivalent relative link; relative links that stay inside are kept exactly as written.
 * `roots` are the folder's path as given and its real path (a link may use either).
 */
export function sandboxLink(roots: readonly string[], relativePath: string, linkTarget: string): SandboxLink {
  const linkDir = path.posix.dirname(relativePath);
  if (!path.isAbsolute(linkTarget)) {
    const lexical = path.posix.normalize(path.posix.join(linkDir, linkTarget.split(path.sep).join('/')));
    if (lexical !== '..' && !lexical.startsWith('../')) return { target: linkTarget, outside: false };
  }
  const resolved = path.resolve(roots[0]!, ...linkDir.split('/'), linkTarget);
  for (const root of roots) {
    const inside = path.relative(root, resolved);
    if (inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside)) continue;
    const target = path.posix.relative(linkDir === '.' ? '' : linkDir, inside.split(path.sep).join('/'));
    return { target: target === '' ? '.' : target, outside: false };
  }
  return { target: linkTarget, outside: true };
}
