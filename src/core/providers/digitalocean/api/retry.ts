import type { Middleware } from 'openapi-fetch';
import { cancelledError } from '../../../errors';

/** How hard the client tries again before it gives an error to its caller. */
export interface RetryPolicy {
  /** Retries after the first attempt, for any reason. */
  maxRetries: number;
  /** First backoff; each retry doubles it, up to `maxBackoffMs`. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** A 429 whose `retry-after` or `ratelimit-reset` is further away than this fails at once: waiting an hour helps no one. */
  maxRateLimitWaitMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { maxRetries: 4, baseBackoffMs: 500, maxBackoffMs: 20_000, maxRateLimitWaitMs: 60_000 };

/** What the retries need from the world, replaceable in tests. */
export interface RetryClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal | undefined): Promise<void>;
  /** In [0, 1): spreads the backoff so clients that failed together do not retry together. */
  random(): number;
}

export const realClock: RetryClock = {
  now: () => Date.now(),
  random: () => Math.random(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(cancelledError('The DigitalOcean request'));
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(cancelledError('The DigitalOcean request'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** Methods the API treats as idempotent: repeating one after a lost answer does no harm. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
const TRANSIENT_STATUS = new Set([500, 502, 503, 504]);

/** Milliseconds the server asks us to wait before the next request, from `retry-after` or, once the quota is spent, `ratelimit-reset`. */
export function rateLimitWaitMs(headers: Headers, now: number): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.ceil(Number(retryAfter) * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const reset = Number(headers.get('ratelimit-reset'));
  if (headers.get('ratelimit-remaining')?.trim() === '0' && Number.isFinite(reset) && reset > 0) return Math.max(0, reset * 1000 - now);
  return undefined;
}

/** The wait before retry number `attempt` (0-based): doubling from the base, capped, with jitter in its upper half. */
export function backoffMs(policy: RetryPolicy, attempt: number, random: number): number {
  const ceiling = Math.min(policy.maxBackoffMs, policy.baseBackoffMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

type Outcome = { response: Response } | { error: unknown };

/** The wait before the next try of `method` after `outcome`, or undefined to stop and hand the outcome back. */
function nextWait(method: string, outcome: Outcome, attempt: number, policy: RetryPolicy, clock: RetryClock): number | undefined {
  if (attempt >= policy.maxRetries) return undefined;
  const backoff = backoffMs(policy, attempt, clock.random());
  if ('error' in outcome) return IDEMPOTENT.has(method) && !isAbort(outcome.error) ? backoff : undefined;
  const { status, headers } = outcome.response;
  if (status === 429) {
    // A 429 means the request was not processed, so even a create may be sent again.
    const asked = rateLimitWaitMs(headers, clock.now());
    if (asked !== undefined && asked > policy.maxRateLimitWaitMs) return undefined;
    return Math.max(asked ?? 0, backoff);
  }
  return TRANSIENT_STATUS.has(status) && IDEMPOTENT.has(method) ? backoff : undefined;
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

function describeOutcome(outcome: Outcome): string {
  if ('response' in outcome) return outcome.response.status === 429 ? 'hit its rate limit (429)' : `answered ${outcome.response.status}`;
  return 'could not be reached';
}

/**
 * Retries a request on 429 (honouring `retry-after` / `ratelimit-reset`), and an idempotent one on 5xx and
 * network errors, with capped exponential backoff and at most `policy.maxRetries` retries.
 * Register it after the auth middleware so the copy it keeps carries the Authorization header.
 */
export function retryMiddleware(policy: RetryPolicy, clock: RetryClock, log?: (line: string) => void): Middleware {
  // A copy of each request taken before it is sent: a sent request's body cannot be read again.
  const originals = new Map<string, Request>();

  async function retry(original: Request, first: Outcome, fetchOnce: (request: Request) => Promise<Response>): Promise<Response> {
    let outcome = first;
    for (let attempt = 0; ; attempt++) {
      const wait = nextWait(original.method, outcome, attempt, policy, clock);
      if (wait === undefined) {
        if ('response' in outcome) return outcome.response;
        throw outcome.error;
      }
      if ('response' in outcome) await outcome.response.body?.cancel().catch(() => undefined);
      log?.(`DigitalOcean ${describeOutcome(outcome)} on ${original.method} ${new URL(original.url).pathname}; retrying in ${(wait / 1000).toFixed(1)} s.`);
      await clock.sleep(wait, original.signal);
      try {
        outcome = { response: await fetchOnce(original.clone()) };
      } catch (error) {
        outcome = { error };
      }
    }
  }

  return {
    onRequest({ request, id }) {
      originals.set(id, request.clone());
      return undefined;
    },
    async onResponse({ response, options, id }) {
      const original = originals.get(id);
      originals.delete(id);
      if (!original) return undefined;
      const final = await retry(original, { response }, (request) => options.fetch(request));
      return final === response ? undefined : final;
    },
    async onError({ error, options, id }) {
      const original = originals.get(id);
      originals.delete(id);
      if (!original) return undefined;
      try {
        return await retry(original, { error }, (request) => options.fetch(request));
      } catch (final) {
        return final instanceof Error ? final : new Error(String(final));
      }
    },
  };
}
