import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { SandboxController } from '../controller';
import { describeError, isSandboxError, SandboxError } from '../errors';
import type { SandboxRecord } from '../model';
import { readJsonFile, writeFileAtomic } from '../store/files';
import { createTreeFilter } from '../sync';
import { applyPatch } from './change/apply';
import type { ChecksRun } from './checks';
import { readGatesConfig, type GatesConfig } from './config';
import { takeEarly } from './early';
import { baseRun, runInFreshSandbox, type CheckSpecs, type FreshSource } from './freshRun';
import { computePatch } from './change/patch';
import { attemptGatesDir } from './paths';
import { appendGateHistory } from './history';
import type { GateBase } from './prepare';
import { rollBack } from './rollback';
import { compareChecks, needsPerson, type L1Finding } from './rules';
import type { FileChange, GateLevel, GatePhase, PatchStats } from './types';
import { gateResultEvent } from './resultEvent';
import { judgeL0, plural } from './verdicts';

/** What the gates decided about one attempt's change, as `gates/tasks/<id>/<attempt>/result.json` keeps it. */
export interface GateResult {
  taskId: string;
  attempt: number;
  workspace: string;
  /** The sandbox's workspace folder: report paths inside it map to the local workspace. */
  workdir: string;
  time: string;
  phase: GatePhase;
  level?: GateLevel;
  reason?: string;
  changes: FileChange[];
  stats: PatchStats;
  l0?: ChecksRun;
  base?: { cached: boolean; run: ChecksRun };
  l1: L1Finding[];
  l2?: { required: boolean; reasons: string[] };
  /** Files the apply wrote, and which of them were merged with the user's own edits. */
  applied?: { files: string[]; merged: string[] };
  snapshots: { pre: string; failed?: string };
  timings: Record<string, number>;
}

export interface GatedAttempt {
  taskId: string;
  attempt: number;
  agentId?: string;
  title?: string;
  priority: string;
  workspace: string;
  /** The agent's sandbox, after its command ended with exit 0. */
  record: SandboxRecord;
  base: GateBase;
  /** The command's last lines, for a lesson. */
  lastOutput: string[];
  /** The task keeps its sandbox: a rollback takes it back to the pre-task snapshot. */
  keep?: boolean;
}

export interface JudgeDeps {
  controller: SandboxController;
  stateRoot: string;
  log: (message: string) => void;
  /** Tells the queue where the change is (a `gate` line). */
  phase: (phase: GatePhase, level?: GateLevel, reason?: string) => void;
  /**
   * Waits for this change's turn to be applied among the tasks of its group (best of N), and says
   * when another one of the group was applied first; `release` ends the turn once the phase is written.
   */
  applyTurn?: () => Promise<{ lost?: string; release: () => void }>;
  /** Whether the task was cancelled meanwhile: its change is then rolled back, never applied. */
  cancelled?: () => boolean;
  /** Resolves with a person's decision; rejects when the wait is abandoned (the scheduler stops). */
  waitForReview: () => Promise<{ decision: 'approve' | 'reject'; note?: string }>;
  signal?: AbortSignal;
}

export interface Verdict {
  passed: boolean;
  phase: GatePhase;
  level?: GateLevel;
  reason?: string;
}

/**
 * Judges a finished task's change and, when every gate passes, applies it to the workspace:
 * the change is pulled and diffed against the base; L0 runs in a fresh sandbox from the
 * pre-task snapshot with the change pushed over it; L1 compares with the base's own run; L2
 * waits for a person when its rules say so. Anything else rolls back: the workspace is left
 * alone, the failed state is kept as a snapshot and a lesson is written.
 */
export async function judgeChange(deps: JudgeDeps, input: GatedAttempt): Promise<Verdict> {
  const started = Date.now();
  const timings: Record<string, number> = {};
  const dir = attemptGatesDir(deps.stateRoot, input.taskId, input.attempt);
  const result: GateResult = {
    taskId: input.taskId,
    attempt: input.attempt,
    workspace: input.workspace,
    workdir: input.record.workdir,
    time: new Date().toISOString(),
    phase: 'checking',
    changes: [],
    stats: { files: 0, addedLines: 0, removedLines: 0 },
    l1: [],
    snapshots: { pre: input.base.snapshot },
    timings,
  };
  const save = () => writeFileAtomic(path.join(dir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  const tell = (passed: boolean) =>
    deps.controller.events.emit(gateResultEvent(input.record.id, result, passed, Date.now() - started)).catch((error: unknown) => {
      deps.log(`Task ${input.taskId}: the gate result could not be told: ${describeError(error)}`);
    });
  const decide = async (verdict: Verdict): Promise<Verdict> => {
    Object.assign(result, { phase: verdict.phase, level: verdict.level, reason: verdict.reason });
    timings.totalMs = Date.now() - started;
    await save();
    await appendGateHistory(deps.stateRoot, historyLine(input, result)).catch(() => undefined);
    await tell(verdict.passed);
    deps.phase(verdict.phase, verdict.level, verdict.reason);
    return verdict;
  };

  deps.phase('checking');
  let config: GatesConfig;
  try {
    config = await readGatesConfig(input.workspace);
  } catch (error) {
    return decide(await rollBack(deps, input, result, 'L0', describeError(error), []));
  }

  // The change, taken out of the agent's sandbox as hostile input.
  const afterDir = path.join(dir, 'after');
  let mark = Date.now();
  // A change shown for review is the change judged again after a restart: it is not pulled anew,
  // so a decision always applies to what the person saw.
  const reviewed = await readJsonFile<GateResult>(path.join(dir, 'result.json')).catch(() => undefined);
  if (reviewed?.phase === 'review' && Array.isArray(reviewed.changes) && existsSync(afterDir)) {
    result.changes = reviewed.changes;
    result.stats = reviewed.stats;
  } else
    try {
      await fs.rm(afterDir, { recursive: true, force: true });
      const pulled = await deps.controller.pull(input.record.id, { localRoot: afterDir, signal: deps.signal });
      // A pull leaves out links that lead out of the workspace; a change that made one is refused whole.
      const escaping = pulled.skippedLinks ?? [];
      if (escaping.length > 0) {
        const named = escaping.slice(0, 3).map((link) => `${link.path} -> ${link.target}`);
        throw new SandboxError(
          'invalid-input',
          `it holds ${plural(escaping.length, 'link')} leading out of the workspace (${named.join(', ')}); such a change is never applied`,
        );
      }
      const patch = await computePatch(input.base.baseDir, afterDir, createTreeFilter(input.base.baseDir));
      result.changes = patch.changes;
      result.stats = patch.stats;
    } catch (error) {
      if (deps.signal?.aborted) throw error;
      return decide(await rollBack(deps, input, result, 'L0', `The change could not be taken out of the sandbox: ${describeError(error)}`, []));
    }
  timings.pullMs = Date.now() - mark;
  if (result.changes.length === 0) return decide({ passed: true, phase: 'unchanged', reason: 'The task changed nothing in the workspace.' });

  const specs: CheckSpecs = { tests: config.l0, lint: config.lint ?? [] };
  const source: FreshSource = {
    snapshot: input.base.snapshot,
    origin: input.record,
    baseManifest: input.base.manifest,
    baseDir: input.base.baseDir,
    taskId: input.taskId,
  };
  if (specs.tests.length > 0) {
    mark = Date.now();
    // L0 on the change and the base's run (for L1) in parallel, each in a sandbox of its own.
    const early = takeEarly(deps.controller, input.taskId, input.attempt, specs);
    const [now, base] = await Promise.all([
      runInFreshSandbox(deps.controller, source, specs, afterDir, deps.signal, early?.l0),
      (early?.base ?? baseRun(deps.controller, deps.stateRoot, source, specs, deps.signal)).catch((error: unknown) => error as Error),
    ]);
    timings.checksMs = Date.now() - mark;
    result.l0 = now;
    if (base instanceof Error) {
      const l0Failure = judgeL0(now);
      const reason = l0Failure?.reason ?? `The base could not be checked for comparison: ${describeError(base)}`;
      return decide(await rollBack(deps, input, result, l0Failure ? 'L0' : 'L1', reason, l0Failure?.tests ?? []));
    }
    result.base = base;
    // Both levels are worked out, so a broken test shows as L0's failure and L1's regression.
    const l0Failure = judgeL0(now, base.run);
    result.l1 = compareChecks(base.run, now, config.l1);
    if (l0Failure) return decide(await rollBack(deps, input, result, 'L0', l0Failure.reason, l0Failure.tests));
    if (result.l1.length > 0) {
      const failing = result.l1.map((finding) => ({ id: finding.testId ?? finding.kind, message: finding.message, location: finding.location }));
      return decide(await rollBack(deps, input, result, 'L1', `${plural(result.l1.length, 'regression')}: ${result.l1[0]!.message}`, failing));
    }
  }

  let person = needsPerson(result.changes, result.stats, input.priority, config.l2);
  if (specs.tests.length === 0) person = { required: true, reasons: [...person.reasons, 'The workspace has no tests to check the change with.'] };
  result.l2 = person;
  if (person.required) {
    const why = person.reasons.join(' ');
    Object.assign(result, { phase: 'review', level: 'L2', reason: why });
    await save();
    await tell(false);
    deps.phase('review', 'L2', why);
    const review = await deps.waitForReview();
    if (review.decision === 'reject') {
      return decide(
        await rollBack(deps, input, result, 'L2', `A person rejected the change${review.note ? `: ${review.note}` : '.'}`, [], review.note, 'rejected'),
      );
    }
  }

  // One change of a group at a time reaches the workspace; the first one there wins the group.
  const turn = (await deps.applyTurn?.()) ?? { release: () => undefined };
  // `return await` throughout: the turn ends only once the phase is written, or the next change
  // of the group would not see this one applied.
  try {
    if (turn.lost) return await decide(await rollBack(deps, input, result, 'apply', turn.lost, [], undefined, 'rejected'));
    if (deps.cancelled?.())
      return await decide(await rollBack(deps, input, result, 'apply', 'The task was cancelled before its change was applied.', [], undefined, 'rejected'));
    mark = Date.now();
    try {
      const applied = await applyPatch({
        workspace: input.workspace,
        patch: { baseDir: input.base.baseDir, afterDir, changes: result.changes, stats: result.stats },
      });
      result.applied = { files: applied.applied, merged: applied.merged };
    } catch (error) {
      const conflict = isSandboxError(error, 'conflict');
      return await decide(await rollBack(deps, input, result, 'apply', describeError(error), [], undefined, conflict ? 'conflict' : 'failed'));
    }
    timings.applyMs = Date.now() - mark;
    return await decide({ passed: true, phase: 'applied', reason: `${plural(result.applied.files.length, 'file')} applied to ${input.workspace}.` });
  } finally {
    turn.release();
  }
}

function historyLine(input: GatedAttempt, result: GateResult): Record<string, unknown> {
  const tests = result.l0?.tests ?? [];
  return {
    time: new Date().toISOString(),
    taskId: input.taskId,
    attempt: input.attempt,
    agentId: input.agentId,
    title: input.title,
    phase: result.phase,
    level: result.level,
    tests: { total: tests.length, failed: tests.filter((test) => test.status === 'failed' || test.status === 'error').length },
    lintFindings: result.l0?.findings.length,
    regressions: result.l1.length,
    l2Required: result.l2?.required,
    baseCached: result.base?.cached,
    diff: result.stats,
    timings: result.timings,
  };
}
