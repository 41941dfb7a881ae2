/**
 * Waits `ms`, or less when `signal` aborts. The abort listener goes when the wait ends, so a loop
 * that pauses thousands of times on one long-lived signal leaves no listener behind.
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
