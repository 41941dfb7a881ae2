/**
 * Makes sure the sandbox image exists on an engine: finds it, or finds or makes a Debian
 * base and builds the recipe on it through the Engine API (no docker CLI needed).
 */
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import * as tar from 'tar-stream';
import { SandboxError, cancelledError, describeError } from '../errors';
import {
  DEBIAN_SLIM_IMAGE,
  debianBaseTag,
  findMmdebstrap,
  makeDebianBase,
  splitTag,
} from './base';
import { buildLockPath, tryBuildLock } from './buildLock';
import { engineEndpoint, engineError, followJsonStream, inspectImage, isAbortError, statusCode, type EngineMessage } from './engine';
import { DESKTOP_RECIPE_NAME, IMAGE_LABELS, loadRecipe, readRecipe, type Recipe } from './recipe';

export interface ImageBuildProgress {
  /** What is happening, short: "Step 3/9", "mmdebstrap", "Pulling debian:bookworm-slim". */
  step: string;
  /** The detail of the moment: an instruction, a line of apt or mmdebstrap output. */
  message?: string;
  /** 0..1 over the whole call, when it can be estimated; never goes down. */
  fraction?: number;
}

export interface EnsureImageOptions {
  /** Build again even when the tag exists (the recipe runs without the layer cache; the base is reused). */
  force?: boolean;
  onProgress?: (progress: ImageBuildProgress) => void;
  signal?: AbortSignal;
  /** A recipe directory other than the one shipped (images/sandbox); for tests and recipe work. */
  recipeDir?: string;
  /** The desktop image (built on the sandbox image, which is built first when missing). */
  desktop?: boolean;
}

export interface EnsureImageResult {
  tag: string;
  /** False when the image was already there. */
  built: boolean;
  /** The base image it was built on ("" when that is not known for an image found ready). */
  base: string;
  durationMs: number;
}

/** How long a pull may go without a word from a registry before we stop waiting for it. */
const PULL_ANSWER_TIMEOUT_MS = 5_000;
/** Share of the progress bar given to making the base, when it has to be made. */
const BASE_SHARE = 0.45;
/** Lines of build output kept for an error message. */
const KEPT_LINES = 30;

const WHAT = 'Building the sandbox image';
const ANSI_ESCAPE = /\u001b\[[0-9;]*[A-Za-z]/g;

/**
 * Returns the sandbox image's tag, building it first when the engine does not have it.
 * Concurrent calls in this process share one build; each caller's signal only stops its
 * own wait, and the build itself stops when every caller has cancelled. Other processes
 * on this machine wait for that build (a lock file) instead of starting their own.
 */
export async function ensureSandboxImage(docker: Dockerode, options: EnsureImageOptions = {}): Promise<EnsureImageResult> {
  const started = Date.now();
  const { signal } = options;
  if (signal?.aborted) throw cancelledError(WHAT);
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

// ---------------------------------------------------------------------------------------
// Shared builds

interface Job {
  promise: Promise<Omit<EnsureImageResult, 'durationMs'>>;
  controller: AbortController;
  listeners: Set<(progress: ImageBuildProgress) => void>;
  waiters: number;
}

const running = new WeakMap<Dockerode, Map<string, Job>>();

function startJob(
  work: (report: (progress: ImageBuildProgress) => void, signal: AbortSignal) => Promise<Omit<EnsureImageResult, 'durationMs'>>,
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

function joinJob(job: Job, options: EnsureImageOptions): Promise<Omit<EnsureImageResult, 'durationMs'>> {
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
        reject(cancelledError(WHAT));
        return;
      }
      // The last one waiting: stop the build and answer once it has wound down, so that
      // nothing of it (a child process, a container) outlives the call.
      job.controller.abort();
      const done = () => reject(cancelledError(WHAT));
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

// ---------------------------------------------------------------------------------------
// The build itself

interface BuildContext {
  force: boolean;
  /** The image to build on, instead of looking for a Debian base. */
  fixedBase?: BaseImage;
  report: (progress: ImageBuildProgress) => void;
  signal: AbortSignal;
}

/** How often a process waiting for another one's build looks again. */
const LOCK_POLL_MS = 1_000;

/**
 * Builds under the machine-wide lock for this tag. A process that finds another one
 * building waits for it and then uses what it made.
 */
async function buildSandboxImage(docker: Dockerode, recipe: Recipe, context: BuildContext): Promise<Omit<EnsureImageResult, 'durationMs'>> {
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

async function findBuilt(docker: Dockerode, tag: string, signal: AbortSignal): Promise<Omit<EnsureImageResult, 'durationMs'> | undefined> {
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
      reject(cancelledError(WHAT));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelledError(WHAT));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function buildLocked(docker: Dockerode, recipe: Recipe, context: BuildContext): Promise<Omit<EnsureImageResult, 'durationMs'>> {
  const { report, signal } = context;
  report({ step: context.fixedBase ? 'Building on the sandbox image' : 'Looking for a Debian base image', fraction: 0 });
  const base = context.fixedBase ?? (await resolveBase(docker, report, signal));
  const start = base.made ? BASE_SHARE : 0;
  await buildRecipe(docker, recipe, base, context, (share) => start + share * (1 - start));
  report({ step: 'Sandbox image ready', message: recipe.tag, fraction: 1 });
  return { tag: recipe.tag, built: true, base: base.ref };
}

interface BaseImage {
  ref: string;
  id: string;
  /** True when this call made it with mmdebstrap. */
  made: boolean;
}

/**
 * The base, cheapest first: debian:bookworm-slim or our own base when the engine has one,
 * then a pull of debian:bookworm-slim (given up quickly when no registry answers), then a
 * base made here with mmdebstrap.
 */
async function resolveBase(docker: Dockerode, report: (progress: ImageBuildProgress) => void, signal: AbortSignal): Promise<BaseImage> {
  const ownTag = debianBaseTag();
  for (const ref of [DEBIAN_SLIM_IMAGE, ownTag]) {
    const image = await inspectImage(docker, ref, signal);
    if (image) {
      report({ step: 'Using the base image', message: ref });
      return { ref, id: image.Id, made: false };
    }
  }
  if (await tryPull(docker, DEBIAN_SLIM_IMAGE, report, signal)) {
    const image = await inspectImage(docker, DEBIAN_SLIM_IMAGE, signal);
    if (image) return { ref: DEBIAN_SLIM_IMAGE, id: image.Id, made: false };
  }
  if (!findMmdebstrap()) {
    throw new SandboxError(
      'image-missing',
      `No ${DEBIAN_SLIM_IMAGE} image is on the Docker engine and none could be pulled, and mmdebstrap is not installed to make one; install it (\`sudo apt-get install mmdebstrap\`) or make ${DEBIAN_SLIM_IMAGE} available to the engine.`,
    );
  }
  const made = await makeDebianBase(docker, {
    tag: ownTag,
    signal,
    onProgress: (progress) =>
      report({ ...progress, fraction: progress.fraction === undefined ? undefined : progress.fraction * BASE_SHARE }),
  });
  return { ref: made.tag, id: made.id, made: true };
}

/**
 * Pulls an image; false (not an error) when no registry answers within the short wait or
 * the pull fails. Once a registry has answered, the pull may take as long as it needs.
 */
async function tryPull(docker: Dockerode, ref: string, report: (progress: ImageBuildProgress) => void, signal: AbortSignal): Promise<boolean> {
  const step = `Pulling ${ref}`;
  report({ step });
  const pullAbort = new AbortController();
  const forward = () => pullAbort.abort();
  signal.addEventListener('abort', forward, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    pullAbort.abort();
  }, PULL_ANSWER_TIMEOUT_MS);
  try {
    const [repo, tag] = splitTag(ref);
    const response = await docker.createImage({ fromImage: repo, tag, abortSignal: pullAbort.signal });
    let failure: string | undefined;
    await followJsonStream(
      response,
      (message: EngineMessage) => {
        if (message.error || message.errorDetail) {
          failure = message.errorDetail?.message ?? message.error;
          return;
        }
        clearTimeout(timer); // a registry answered
        if (message.status) {
          report({ step, message: [message.id, message.status, message.progress].filter(Boolean).join(' ') });
        }
      },
      pullAbort.signal,
      step,
    );
    if (failure) {
      report({ step, message: `No pull: ${failure}` });
      return false;
    }
    return true;
  } catch (error) {
    if (signal.aborted) throw cancelledError(WHAT);
    const why = timedOut ? `no registry answered within ${PULL_ANSWER_TIMEOUT_MS / 1000} s` : describeError(error);
    report({ step, message: `No pull: ${why}` });
    return false;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', forward);
  }
}

/** The build context: the recipe's files with fixed owner, time and modes. */
function recipeTar(recipe: Recipe): Readable {
  const pack = tar.pack();
  const mtime = new Date(Date.UTC(2000, 0, 1));
  for (const file of recipe.files) {
    pack.entry({ name: file.path, size: file.content.length, mode: file.mode, mtime, uid: 0, gid: 0 }, file.content);
  }
  pack.finalize();
  return pack as unknown as Readable;
}

async function buildRecipe(
  docker: Dockerode,
  recipe: Recipe,
  base: BaseImage,
  context: BuildContext,
  overall: (share: number) => number,
): Promise<void> {
  const { report, signal } = context;
  let step = 'Starting the build';
  let instruction = '';
  let stepShare = 0;
  let partial = '';
  const lastLines: string[] = [];
  /** Images the steps of this build made (" ---> id" lines), newest last. */
  const stepImages: string[] = [];
  let failure: string | undefined;
  report({ step, message: `on ${base.ref}`, fraction: overall(0) });

  let response: NodeJS.ReadableStream;
  try {
    response = await docker.buildImage(recipeTar(recipe), {
      t: recipe.tag,
      buildargs: { BASE_IMAGE: base.ref },
      labels: { [IMAGE_LABELS.recipe]: recipe.hash, [IMAGE_LABELS.base]: `${base.ref}@${base.id}` },
      rm: true,
      forcerm: true,
      pull: false,
      nocache: context.force,
      abortSignal: signal,
    });
  } catch (error) {
    throw engineError(docker, error, `build the sandbox image ${recipe.tag}`, signal);
  }

  try {
    await followJsonStream(
      response,
      (message) => {
        if (message.error || message.errorDetail) {
          failure = message.errorDetail?.message ?? message.error;
          return;
        }
        if (message.stream === undefined) return;
        // Output comes in pieces that need not end at a line's end; the classic builder
        // also paints a RUN's stderr with terminal colours, which are dropped.
        const lines = (partial + message.stream).replace(ANSI_ESCAPE, '').split(/\r?\n|\r/);
        partial = lines.pop() ?? '';
        for (const raw of lines) {
          const line = raw.trimEnd();
          if (line.trim() === '') continue;
          const stepMatch = /^Step (\d+)\/(\d+) : (.*)$/.exec(line);
          if (stepMatch) {
            const [, current, total, text] = stepMatch;
            step = `Step ${current}/${total}`;
            instruction = text!;
            stepShare = (Number(current) - 1) / Number(total);
            report({ step, message: instruction, fraction: overall(stepShare) });
            continue;
          }
          const layer = /^ ---> ([0-9a-f]{12,64})$/.exec(line);
          // The FROM step answers with the base itself, which is not this build's to remove.
          if (layer && !base.id.replace(/^sha256:/, '').startsWith(layer[1]!)) stepImages.push(layer[1]!);
          if (/^ ---> /.test(line) || /^Removing intermediate container/.test(line)) continue;
          lastLines.push(line);
          if (lastLines.length > KEPT_LINES) lastLines.shift();
          report({ step, message: line });
        }
      },
      signal,
      WHAT,
    );
  } catch (error) {
    if (context.force) await removeStepImages(docker, stepImages);
    if (signal.aborted || isAbortError(error)) throw cancelledError(WHAT);
    throw engineError(docker, error, `build the sandbox image ${recipe.tag}`, signal);
  }

  if (partial.trim() !== '') lastLines.push(partial.replace(ANSI_ESCAPE, '').trimEnd());
  if (failure !== undefined) {
    // The engine repeats the whole RUN line in its message; the step already names it.
    const reason = failure.trim().replace(/^The command '[\s\S]*' returned/, 'the command returned');
    if (context.force) await removeStepImages(docker, stepImages);
    const aptErrors = lastLines.filter((line) => /^(E|W): /.test(line)).slice(-3);
    const tail = (aptErrors.length > 0 ? aptErrors : lastLines.slice(-3)).join(' | ');
    const at = instruction ? `${step} (${shorten(instruction.replace(/\s+/g, ' '), 80)})` : step;
    throw new SandboxError(
      'provider-error',
      `Building the sandbox image failed at ${at}: ${reason}${tail ? `; last output: ${shorten(tail, 400)}` : ''}.`,
    );
  }
  if (!(await inspectImage(docker, recipe.tag, signal))) {
    throw new SandboxError('provider-error', `The build of ${recipe.tag} ended without an image; run it again and look at the engine's log.`);
  }
}

/**
 * After a forced (cache-less) build that did not finish: its step images are fresh, untagged
 * and of no use to anyone, so they go. An image something else still needs (a tag, a child,
 * a container) is refused by the engine and stays.
 */
async function removeStepImages(docker: Dockerode, ids: string[]): Promise<void> {
  for (const id of [...ids].reverse()) {
    const image = await docker.getImage(id).inspect().catch(() => undefined);
    if (!image || (image.RepoTags ?? []).length > 0) continue;
    // The engine may still be removing the container of a cancelled step, which holds the image.
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const outcome = await docker.getImage(id).remove({ noprune: true }).then(() => 'gone', (error: unknown) => statusCode(error));
      if (outcome !== 409) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
