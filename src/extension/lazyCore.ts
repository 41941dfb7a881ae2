import type { SandboxErrorCode } from '../core/errors';

/**
 * The heavy half of the core (the controller, dockerode, ssh2, tar: over 1 MB of script) is
 * bundled into dist/core.js and loaded on first use, so activating loads only dist/extension.js
 * (about 60 KB, some 10 ms instead of 50).
 */
export function loadCore(): typeof import('./coreBundle') {
  // A runtime require of the sibling bundle, left to Node.js: esbuild keeps it external.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./core.js') as typeof import('./coreBundle');
}

/**
 * The code of a SandboxError. Errors made in dist/core.js are instances of that bundle's class,
 * not of this one's, so the extension reads the code instead of using instanceof.
 */
export function sandboxErrorCode(error: unknown): SandboxErrorCode | undefined {
  if (typeof error !== 'object' || error === null || (error as Error).name !== 'SandboxError') return undefined;
  return (error as { code?: SandboxErrorCode }).code;
}
