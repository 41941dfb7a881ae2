import { createHash } from 'node:crypto';
import type { SandboxController } from '../controller';
import { describeError } from '../errors';
import type { SandboxRecord } from '../model';
import { readJsonFile, writeFileAtomic } from '../store/files';
import type { Manifest } from '../sync/manifest';
import { runChecks, type ChecksRun, type CheckSpec } from './checks';
import { baseRunCacheFile } from './paths';

/** The agent id of the sandboxes the gates make to judge a task's change: the scheduler sweeps those of tasks no longer judged. */
export function gatesAgentId(taskId: string): string {
  return `${GATES_AGENT_PREFIX}${taskId}`;
}

export const GATES_AGENT_PREFIX = 'gates:';

export interface CheckSpecs {
  tests: CheckSpec[];
  lint: CheckSpec[];
}

/** Where a fresh sandbox comes from: the snapshot taken before the task, on the machine that holds it. */
export interface FreshSource {
  snapshot: string;
  origin: SandboxRecord;
  /** What the origin's workspace held when the snapshot was taken, as its push recorded it. */
  baseManifest: Manifest;
  /** The local copy of that base: its .gitignore files decide what of a change is pushed, as they decided the patch. */
  baseDir: string;
  taskId: string;
}

/** A sandbox made from the pre-task snapshot, on the machine that holds it, with keys of its own. */
export function createFresh(controller: SandboxController, source: FreshSource, signal?: AbortSignal): Promise<SandboxRecord> {
  return controller.create({
    fromSnapshot: source.snapshot,
    agentId: gatesAgentId(source.taskId),
    provider: source.origin.provider,
    ...(source.origin.placement?.host ? { host: source.origin.placement.host } : {}),
    signal,
  });
}

/** Removals of fresh sandboxes still under way, per task: the pre-task snapshot goes only after them. */
const removals = new Map<string, Set<Promise<void>>>();

/** Resolves once the fresh sandboxes of the task are removed (or their removal failed: the sweep retries). */
export async function freshSandboxesRemoved(taskId: string): Promise<void> {
  await Promise.all([...(removals.get(taskId) ?? [])]);
}

function removeFresh(controller: SandboxController, taskId: string, id: string): void {
  const pending = removals.get(taskId) ?? new Set<Promise<void>>();
  removals.set(taskId, pending);
  const removal: Promise<void> = controller.delete(id).then(
    () => undefined,
    () => undefined,
  );
  pending.add(removal);
  void removal.then(() => {
    pending.delete(removal);
    if (pending.size === 0 && removals.get(taskId) === pending) removals.delete(taskId);
  });
}

/**
 * Runs the checks in a sandbox made from the pre-task snapshot (or the one made for it while the
 * task ran: `ready`), with `afterDir` pushed over the base when given (only the difference
 * travels). The sandbox is removed off the verdict's path. The agent's own sandbox never judges
 * its work: whatever it changed outside the workspace is not here.
 */
export async function runInFreshSandbox(
  controller: SandboxController,
  source: FreshSource,
  specs: CheckSpecs,
  afterDir: string | undefined,
  signal?: AbortSignal,
  ready?: Promise<SandboxRecord>,
): Promise<ChecksRun> {
  const record = (ready && (await ready.catch(() => undefined))) || (await createFresh(controller, source, signal));
  try {
    // The base's ignore rules, not the change's own: a change that ignores a file it edited must
    // not have its L0 run on the old file while the edited one is applied.
    if (afterDir) {
      await controller.push(record.id, { localRoot: afterDir, gitignoreFrom: source.baseDir, assumeHeld: source.baseManifest, deleteExtraneous: true, signal });
    }
    return await runChecks((request) => controller.inspectExec(record.id, request), record.workdir, specs, signal);
  } finally {
    removeFresh(controller, source.taskId, record.id);
  }
}

/** The base's results are the same for the same base, checks and image: the key says all three. */
export function baseRunKey(manifest: Manifest, specs: CheckSpecs, image: string): string {
  const hash = createHash('sha256');
  for (const relativePath of Object.keys(manifest.entries).sort()) {
    const entry = manifest.entries[relativePath]!;
    hash.update(JSON.stringify([relativePath, entry.type, entry.mode, entry.hash ?? '', entry.linkTarget ?? '']));
    hash.update('\n');
  }
  hash.update(JSON.stringify(specs));
  hash.update(image);
  return hash.digest('hex').slice(0, 32);
}

export interface BaseRun {
  run: ChecksRun;
  cached: boolean;
}

/** L1's reference: the checks on the task's starting point, from the cache when this base was checked before. */
export async function baseRun(
  controller: SandboxController,
  stateRoot: string,
  source: FreshSource,
  specs: CheckSpecs,
  signal?: AbortSignal,
): Promise<BaseRun> {
  const file = baseRunCacheFile(stateRoot, baseRunKey(source.baseManifest, specs, source.origin.profile.image));
  const cached = await readJsonFile<ChecksRun>(file).catch(() => undefined);
  if (cached && Array.isArray(cached.checks) && Array.isArray(cached.tests)) return { run: cached, cached: true };
  const run = await runInFreshSandbox(controller, source, specs, undefined, signal);
  // A base whose checks could not run at all is not worth keeping: the next task tries again.
  if (run.checks.every((check) => !check.problem)) {
    await writeFileAtomic(file, JSON.stringify(run)).catch((error) => {
      throw new Error(`The base's results could not be cached at ${file}: ${describeError(error)}`);
    });
  }
  return { run, cached: false };
}
