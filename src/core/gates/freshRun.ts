import { createHash } from 'node:crypto';
import type { SandboxController } from '../controller';
import { describeError } from '../errors';
import type { SandboxRecord } from '../model';
import { readJsonFile, writeFileAtomic } from '../store/files';
import type { Manifest } from '../sync/manifest';
import { runChecks, type ChecksRun, type CheckSpec } from './checks';
import { baseRunCacheFile } from './paths';

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
  taskId: string;
}

/**
 * Runs the checks in a sandbox made from the pre-task snapshot, with `afterDir` pushed over the
 * base when given (only the difference travels), and removes the sandbox after. The agent's own
 * sandbox never judges its work: whatever it changed outside the workspace is not here.
 */
export async function runInFreshSandbox(
  controller: SandboxController,
  source: FreshSource,
  specs: CheckSpecs,
  afterDir: string | undefined,
  signal?: AbortSignal,
): Promise<ChecksRun> {
  const record = await controller.create({
    fromSnapshot: source.snapshot,
    agentId: `gates:${source.taskId}`,
    provider: source.origin.provider,
    ...(source.origin.placement?.host ? { host: source.origin.placement.host } : {}),
    signal,
  });
  try {
    if (afterDir) await controller.push(record.id, { localRoot: afterDir, assumeHeld: source.baseManifest, deleteExtraneous: true, signal });
    return await runChecks((request) => controller.inspectExec(record.id, request), record.workdir, specs, signal);
  } finally {
    await controller.delete(record.id).catch(() => undefined);
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
