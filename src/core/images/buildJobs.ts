/**
 * Shared builds: concurrent calls in this process join one build of a tag; each caller's signal
 * only stops its own wait, and the build stops when every caller has cancelled.
 */
import type Dockerode from 'dockerode';
import { cancelledError } from '../errors';
import { BUILD_WHAT, type BuildOutcome, type EnsureImageOptions, type ImageBuildProgress } from './buildTypes';

export interface Job {
  promise: Promise<BuildOutcome>;
  controller: AbortController;
  listeners: Set<(progress: ImageBuildProgress) => void>;
  waiters: number;
}

export const running = new WeakMap<Dockerode, Map<string, Job>>();

export function startJob(
  work: (report: (progress: ImageBuildProgress) => void, signal: AbortSignal) => Promise<BuildOutcome>,
): Job {
  const controller = new AbortController();
  const listeners = new Set<(progress: ImageBuildProgress) => void>();
  let last = 0;
  const report = (progress: ImageBuildProgress) => {
    // Keep the fraction from going back when an estimate turns out high.
    if (progress.fraction !== undefined) {
      last = Math.max(last, Math.min(1, progress.fraction));
      progress = { ...progress, fraction: last };
    }
    for (const listener of listeners) {
      try {
        listener(progress);
      } catch {
        // A progress listener's failure is not the build's.
      }
    }
  };
  // Started a tick later, so that the first caller has joined and hears the first report.
  const promise = Promise.resolve().then(() => work(report, controller.signal));
  const job: Job = { promise, controller, listeners, waiters: 0 };
  job.promise.catch(() => undefined); // the waiters see the failure; an abandoned job has none
  return job;
}

export function joinJob(job: Job, options: EnsureImageOptions): Promise<BuildOutcome> {
  const { signal, onProgress } = options;
  job.waiters += 1;
  if (onProgress) job.listeners.add(onProgress);
  return new Promise((resolve, reject) => {
    let left = false;
    const leave = () => {
      if (left) return false;
      left = true;
      job.waiters -= 1;
      if (onProgress) job.listeners.delete(onProgress);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const onAbort = () => {
      if (!leave()) return;
      if (job.waiters > 0) {
        reject(cancelledError(BUILD_WHAT));
        return;
      }
      // The last one waiting: stop the build and answer once it has wound down, so that
      // nothing of it (a child process, a container) outlives the call.
      job.controller.abort();
      const done = () => reject(cancelledError(BUILD_WHAT));
      job.promise.then(done, done);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    job.promise.then(
      (result) => {
        if (leave()) resolve(result);
      },
      (error: unknown) => {
        if (leave()) reject(error);
      },
    );
    if (signal?.aborted) onAbort();
  });
}
