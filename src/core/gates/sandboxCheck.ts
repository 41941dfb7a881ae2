import type { SandboxController } from '../controller';
import { readJsonFile } from '../store/files';
import { runChecks, type ChecksRun } from './checks';
import { readGatesConfig, type GatesConfig } from './config';
import { baseRunKey, type CheckSpecs } from './freshRun';
import { baseRunCacheFile } from './paths';
import { compareChecks, type L1Finding } from './rules';
import { judgeL0 } from './verdicts';

export interface SandboxCheck {
  config: GatesConfig;
  run: ChecksRun;
  /** Why L0 fails, when it does. */
  l0Failure?: string;
  /** Against the base's results, when the base last pushed from the workspace was checked before; undefined otherwise. */
  l1?: L1Finding[];
}

/**
 * `sandbox gates run`: the workspace's checks on a sandbox's current state, in that sandbox (a
 * person's look at their own sandbox, not a judgement of an agent's change: that runs elsewhere).
 */
export async function checkSandbox(
  controller: SandboxController,
  stateRoot: string,
  ref: string,
  workspace: string,
  signal?: AbortSignal,
): Promise<SandboxCheck> {
  const config = await readGatesConfig(workspace);
  const record = await controller.resolve(ref);
  const specs: CheckSpecs = { tests: config.l0, lint: config.lint ?? [] };
  const run = await runChecks((request) => controller.inspectExec(record.id, request), record.workdir, specs, signal);
  const check: SandboxCheck = { config, run };
  const pushed = await controller.pushedManifest(record.id, workspace);
  const base = pushed && (await readJsonFile<ChecksRun>(baseRunCacheFile(stateRoot, baseRunKey(pushed, specs, record.profile.image))).catch(() => undefined));
  const failure = judgeL0(run, base);
  if (failure) check.l0Failure = failure.reason;
  if (base) check.l1 = compareChecks(base, run, config.l1);
  return check;
}
