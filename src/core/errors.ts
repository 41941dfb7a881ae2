/**
 * Errors a user can meet. The message is one sentence saying what happened and what to do;
 * the code lets the CLI pick an exit status and the extension pick an action button.
 */
export type SandboxErrorCode =
  | 'invalid-input'
  | 'not-found'
  | 'ambiguous'
  | 'conflict'
  | 'engine-unavailable'
  | 'image-missing'
  | 'resource-limit'
  | 'wrong-state'
  | 'cancelled'
  | 'unsafe-archive'
  | 'command-failed-to-start'
  | 'connection-failed'
  | 'connection-lost'
  | 'host-key-mismatch'
  | 'provider-error';

export class SandboxError extends Error {
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SandboxError';
  }
}

export function isSandboxError(error: unknown, code?: SandboxErrorCode): error is SandboxError {
  return error instanceof SandboxError && (code === undefined || error.code === code);
}

export function cancelledError(what: string): SandboxError {
  return new SandboxError('cancelled', `${what} was cancelled.`);
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw cancelledError(what);
}

/** The message of anything thrown, without a stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
