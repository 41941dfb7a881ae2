import { SandboxError, describeError, isSandboxError, type SandboxErrorCode } from '../core/errors';

/** Exit statuses that mean something to scripts and agents. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  engineUnavailable: 4,
  conflict: 5,
  timeout: 124,
  cannotStart: 127,
  cancelled: 130,
  /** As OpenSSH's own client: the connection failed, dropped, or the host key did not match. */
  ssh: 255,
} as const;

const EXIT_BY_CODE: Partial<Record<SandboxErrorCode, number>> = {
  'invalid-input': EXIT.usage,
  ambiguous: EXIT.usage,
  'resource-limit': EXIT.usage,
  'not-found': EXIT.notFound,
  'engine-unavailable': EXIT.engineUnavailable,
  conflict: EXIT.conflict,
  'wrong-state': EXIT.conflict,
  cancelled: EXIT.cancelled,
  'command-failed-to-start': EXIT.cannotStart,
  'connection-failed': EXIT.ssh,
  'connection-lost': EXIT.ssh,
  'host-key-mismatch': EXIT.ssh,
};

/** The exit status for an error: by its code for ours, a plain failure for anything else. */
export function exitStatusOf(error: unknown): number {
  return isSandboxError(error) ? (EXIT_BY_CODE[error.code] ?? EXIT.failure) : EXIT.failure;
}

/** How every front end reports an error to a program: a code to branch on and one sentence to show. */
export interface ErrorShape {
  code: SandboxErrorCode | 'internal';
  message: string;
}

export function errorShape(error: unknown): ErrorShape {
  return error instanceof SandboxError ? { code: error.code, message: error.message } : { code: 'internal', message: describeError(error) };
}
