import { SandboxError, type SandboxErrorCode, describeError } from '../../../errors';
import { rateLimitWaitMs } from './retry';

/** Why a DigitalOcean call failed, for callers that act on it (sign in again, adopt a missing droplet as gone, ...). */
export type DigitalOceanFailure = 'unauthorized' | 'forbidden' | 'not-found' | 'rejected' | 'rate-limited' | 'unavailable' | 'unreachable' | 'token-malformed';

const CODE_BY_FAILURE: Record<DigitalOceanFailure, SandboxErrorCode> = {
  unauthorized: 'provider-error',
  forbidden: 'provider-error',
  'token-malformed': 'invalid-input',
  'not-found': 'not-found',
  rejected: 'invalid-input',
  'rate-limited': 'resource-limit',
  unavailable: 'connection-failed',
  unreachable: 'connection-failed',
};

/** An error of the DigitalOcean API, in one sentence; it never carries the token, the request or the response. */
export class DigitalOceanError extends SandboxError {
  constructor(
    readonly failure: DigitalOceanFailure,
    message: string,
    readonly status?: number,
  ) {
    super(CODE_BY_FAILURE[failure], message);
    this.name = 'DigitalOceanError';
  }
}

export function isDigitalOceanError(error: unknown, failure?: DigitalOceanFailure): error is DigitalOceanError {
  return error instanceof DigitalOceanError && (failure === undefined || error.failure === failure);
}

/** Text from the API or the network, made safe to show: one line, bounded, and without the token even if a server echoed it. */
export function redacted(text: string, token: string): string {
  let safe = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  if (token) safe = safe.split(token).join('[token]');
  return safe.length > 300 ? `${safe.slice(0, 297)}...` : safe;
}

function apiMessage(body: unknown): string | undefined {
  if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string' && body.message.trim()) return body.message;
  return undefined;
}

function withoutFinalStop(text: string): string {
  return text.replace(/[.\s]+$/, '');
}

function inTime(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  return seconds < 120 ? `${seconds} s` : `${Math.ceil(seconds / 60)} minutes`;
}

export interface FailedCall {
  /** What the call was about, e.g. "droplet 3164444" or "the sizes": names the thing in a 404. */
  subject: string;
  status: number;
  body: unknown;
  headers: Headers;
  token: string;
  now: number;
}

/** The one-sentence error for an answer that is not a success. */
export function responseError(call: FailedCall): DigitalOceanError {
  const { status, subject, token } = call;
  const said = apiMessage(call.body);
  const reason = said ? `: ${withoutFinalStop(redacted(said, token))}` : '';
  switch (true) {
    case status === 401:
      return new DigitalOceanError('unauthorized', 'DigitalOcean refused the token; sign in again with `sandbox cloud login`.', status);
    case status === 403:
      return new DigitalOceanError(
        'forbidden',
        `DigitalOcean does not let this token work on ${subject}${reason}; sign in with a token that has read and write access.`,
        status,
      );
    case status === 404:
      return new DigitalOceanError('not-found', `DigitalOcean has no ${subject} (it may have been deleted already).`, status);
    case status === 400 || status === 409 || status === 422:
      return new DigitalOceanError('rejected', `DigitalOcean refused the request for ${subject}${reason || ` (HTTP ${status})`}.`, status);
    case status === 429: {
      const wait = rateLimitWaitMs(call.headers, call.now);
      const when = wait === undefined ? 'in a minute' : `in ${inTime(wait)}`;
      return new DigitalOceanError('rate-limited', `DigitalOcean's rate limit for this token is reached; try again ${when}.`, status);
    }
    case status >= 500:
      return new DigitalOceanError(
        'unavailable',
        `DigitalOcean's API is failing (HTTP ${status}); try again in a few minutes, and see status.digitalocean.com if it persists.`,
        status,
      );
    default:
      return new DigitalOceanError('rejected', `DigitalOcean answered HTTP ${status} for ${subject}${reason}.`, status);
  }
}

/** The one-sentence error for a request that got no answer at all. */
export function unreachableError(baseUrl: string, error: unknown, token: string): DigitalOceanError {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = cause && typeof cause === 'object' && 'code' in cause && typeof cause.code === 'string' ? cause.code : describeError(cause);
  return new DigitalOceanError(
    'unreachable',
    `DigitalOcean's API at ${redacted(new URL(baseUrl).host, token)} cannot be reached (${redacted(code, token)}); check the network connection and try again.`,
  );
}

/** Refuses a token no HTTP header can carry, without ever repeating it (the platform's own error would quote it). */
export function checkToken(token: string): void {
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new DigitalOceanError(
      'token-malformed',
      'The DigitalOcean token is empty or has spaces or other characters a token cannot have; sign in again with `sandbox cloud login`.',
    );
  }
}
