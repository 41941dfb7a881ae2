import { describeError } from '../../errors';

/** The engine's HTTP status of a failed request, if it answered at all. */
export function statusCode(error: unknown): number | undefined {
  return (error as { statusCode?: number })?.statusCode;
}

export function engineMessage(error: unknown): string {
  const json = (error as { json?: { message?: string } })?.json;
  const message = json?.message ?? describeError(error);
  return message
    .replace(/^\(HTTP code \d+\)\s*[\w ]*-\s*/, '')
    .replace(/\s+$/, '')
    .replace(/\.$/, '');
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
