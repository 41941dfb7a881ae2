/**
 * Makes sure the sandbox image exists on an engine: finds it, or finds or makes a Debian
 * base and builds the recipe on it through the Engine API (no docker CLI needed).
 */
import type Dockerode from 'dockerode';
import { cancelledError } from '../errors';
import { BASE_SHARE, resolveBase } from './baseChoice';
import { buildLockPath, tryBuildLock } from './buildLock';
import { joinJob, running, startJob } from './buildJobs';
import { BUILD_WHAT, type BaseImage, type BuildContext, type BuildOutcome, type EnsureImageOptions, type EnsureImageResult } from './buildTypes';
import { engineEndpoint, inspectImage } from './engine';
import { DESKTOP_RECIPE_NAME, IMAGE_LABELS, loadRecipe, readRecipe, type Recipe } from './recipe';
import { buildRecipe } from './recipeBuild';

export type { EnsureImageOptions, EnsureImageResult, ImageBuildProgress } from './buildTypes';

/**
 * Returns the sandbox image's tag, building it first when the engine does not have it.
 * Concurrent calls in this process share one build; each caller's signal only stops its
 * own wait, and the build itself stops when every caller has cancelled. Other processes
 * on this machine wait for that build (a lock file) instead of starting their own.
 */
export async function ensureSandboxImage(docker: Dockerode, options: EnsureImageOptions = {}): Promise<EnsureImageResult> {
  const started = Date.now();
  const { signal } = options;
  if (signal?.aborted) throw cancelledError(BUILD_WHAT);
  let fixedBase: BaseImage | undefined;
  if (options.desktop) {
    // The sandbox image is the desktop's base: made first (or found), never forced again.
    const sandbox = await ensureSandboxImage(docker, { ...options, desktop: false, force: false });
    const image = await inspectImage(docker, sandbox.tag, signal ?? new AbortController().signal);
    fixedBase = { ref: sandbox.tag, id: image?.Id ?? '', made: false };
  }
  const recipe = options.desktop ? loadRecipe(DESKTOP_RECIPE_NAME) : options.recipeDir === undefined ? loadRecipe() : readRecipe(options.recipeDir);
  if (!options.force) {
    const existing = await inspectImage(docker, recipe.tag, signal);
    if (existing) return { tag: recipe.tag, built: false, base: baseOf(existing), durationMs: Date.now() - started };
  }
  let jobs = running.get(docker);
  if (!jobs) {
    jobs = new Map();
    running.set(docker, jobs);
  }
  let job = jobs.get(recipe.tag);
  if (!job) {
    const created = startJob((report, jobSignal) => buildSandboxImage(docker, recipe, { force: options.force ?? false, report, signal: jobSignal, fixedBase }));
    jobs.set(recipe.tag, created);
    const forget = () => {
      if (jobs!.get(recipe.tag) === created) jobs!.delete(recipe.tag);
    };
    created.promise.then(forget, forget);
    job = created;
  }
  const result = await joinJob(job, options);
  return { ...result, durationMs: Date.now() - started };
}

/** How often a process waiting for another one's build looks again. */
const LOCK_POLL_MS = 1_000;

/**
 * Builds under the machine-wide lock for this tag. A process that finds another one
 * building waits for it and then uses what it made.
 */
async function buildSandboxImage(docker: Dockerode, recipe: Recipe, context: BuildContext): Promise<BuildOutcome> {
  const { report, signal } = context;
  const lockFile = buildLockPath(engineEndpoint(docker), recipe.tag);
  let waited = false;
  for (;;) {
    const lock = tryBuildLock(lockFile);
    if ('release' in lock) {
      try {
        if (!context.force || waited) {
          const found = await findBuilt(docker, recipe.tag, signal);
          if (found) return found;
        }
        return await buildLocked(docker, recipe, context);
      } finally {
        lock.release();
      }
    }
    if (!waited) {
      report({ step: 'Waiting for another build of the sandbox image', message: lock.heldBy ? `process ${lock.heldBy} is building ${recipe.tag}` : recipe.tag });
    }
    waited = true;
    await sleep(LOCK_POLL_MS, signal);
    const found = await findBuilt(docker, recipe.tag, signal);
    if (found) return found;
  }
}

async function findBuilt(docker: Dockerode, tag: string, signal: AbortSignal): Promise<BuildOutcome | undefined> {
  const image = await inspectImage(docker, tag, signal);
  if (!image) return undefined;
  return { tag, built: false, base: baseOf(image) };
}

/** The base reference recorded on an image we built, without the id. */
function baseOf(image: Dockerode.ImageInspectInfo): string {
  return (image.Config?.Labels?.[IMAGE_LABELS.base] ?? '').replace(/@sha256:[0-9a-f]+$/, '');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(cancelledError(BUILD_WHAT));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelledError(BUILD_WHAT));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function buildLocked(docker: Dockerode, recipe: Recipe, context: BuildContext): Promise<BuildOutcome> {
  const { report, signal } = context;
  report({ step: context.fixedBase ? 'Building on the sandbox image' : 'Looking for a Debian base image', fraction: 0 });
  const base = context.fixedBase ?? (await resolveBase(docker, report, signal));
  const start = base.made ? BASE_SHARE : 0;
  await buildRecipe(docker, recipe, base, context, (share) => start + share * (1 - start));
  report({ step: 'Sandbox image ready', message: recipe.tag, fraction: 1 });
  return { tag: recipe.tag, built: true, base: base.ref };
}
