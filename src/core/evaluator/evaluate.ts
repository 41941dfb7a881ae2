import { promises as fs } from 'node:fs';
import { parseJsonLines } from '../store/files';
import { gatesHistoryFile } from '../gates/paths';
import type { GateLevel, GatePhase, PatchStats } from '../gates/types';
import { isFinished, type Task } from '../tasks/model';

/** One judged change, as `gates/history.jsonl` records it (docs/gates.md). */
export interface GateHistoryLine {
  time: string;
  taskId: string;
  attempt: number;
  agentId?: string;
  phase: GatePhase;
  level?: GateLevel;
  l2Required?: boolean;
  tests?: { total: number; failed: number };
  lintFindings?: number;
  regressions?: number;
  diff?: PatchStats;
  timings?: Record<string, number>;
}

/** How a group of tasks did. Rates are null when nothing was there to count. */
export interface EvalRow {
  key: string;
  tasks: number;
  finished: number;
  succeeded: number;
  successRate: number | null;
  /** Of the changes that reached each gate, how many passed it. */
  gates: Record<'L0' | 'L1' | 'L2', { passed: number; failed: number; rate: number | null }>;
  /** Mean wall time of a finished task, seconds (its attempts and gates). */
  meanSeconds: number | null;
  /** Sandbox time spent, seconds: the cost where no price is known. */
  computeSeconds: number;
  meanLintFindings: number | null;
  meanDiffLines: number | null;
}

export interface Evaluation {
  overall: EvalRow;
  byAgent: EvalRow[];
  /** A task's kind: its profile and the program it runs (`default/pytest`). */
  byKind: EvalRow[];
  /** Success rate of the last `window` finished tasks against the `window` before them. */
  trend: { window: number; recent: number | null; before: number | null };
}

export async function readGateHistory(stateRoot: string): Promise<GateHistoryLine[]> {
  const text = await fs.readFile(gatesHistoryFile(stateRoot), 'utf8').catch(() => '');
  return parseJsonLines<GateHistoryLine>(text).filter((line) => typeof line?.taskId === 'string' && typeof line.phase === 'string');
}

export function kindOf(task: Task): string {
  const program = typeof task.command === 'string' ? (task.command.trim().split(/\s+/)[0] ?? 'sh') : (task.command[0] ?? '');
  return `${task.profile}/${program.split('/').pop()}`;
}

/** Success, gates, time and size per task group, from the queue's tasks and the gates' history. */
export function evaluate(tasks: Task[], history: GateHistoryLine[], window = 20): Evaluation {
  // The last judgement of each task stands for it.
  const judged = new Map<string, GateHistoryLine>();
  for (const line of history) judged.set(line.taskId, line);
  const group = (key: (task: Task) => string): EvalRow[] => {
    const groups = new Map<string, Task[]>();
    for (const task of tasks) groups.set(key(task), [...(groups.get(key(task)) ?? []), task]);
    return [...groups].map(([name, members]) => row(name, members, judged)).sort((a, b) => b.tasks - a.tasks || a.key.localeCompare(b.key));
  };
  const finished = tasks.filter((task) => isFinished(task.state) && task.state !== 'cancelled').sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
  const rate = (some: Task[]) => (some.length ? some.filter((task) => task.state === 'succeeded').length / some.length : null);
  return {
    overall: row('all', tasks, judged),
    byAgent: group((task) => task.agentId ?? 'unknown'),
    byKind: group(kindOf),
    trend: { window, recent: rate(finished.slice(-window)), before: rate(finished.slice(-2 * window, -window)) },
  };
}

function row(key: string, tasks: Task[], judged: Map<string, GateHistoryLine>): EvalRow {
  const finished = tasks.filter((task) => isFinished(task.state) && task.state !== 'cancelled');
  const succeeded = finished.filter((task) => task.state === 'succeeded').length;
  const gates = { L0: { passed: 0, failed: 0 }, L1: { passed: 0, failed: 0 }, L2: { passed: 0, failed: 0 } };
  let computeSeconds = 0;
  const seconds: number[] = [];
  const lint: number[] = [];
  const diffs: number[] = [];
  for (const task of tasks) {
    for (const attempt of task.attempts) {
      if (attempt.startedAt && attempt.endedAt) computeSeconds += (Date.parse(attempt.endedAt) - Date.parse(attempt.startedAt)) / 1000;
    }
    if (isFinished(task.state) && task.state !== 'cancelled') seconds.push((Date.parse(task.updatedAt) - Date.parse(task.createdAt)) / 1000);
    const line = judged.get(task.id);
    if (!line) continue;
    computeSeconds += (line.timings?.checksMs ?? 0) / 1000;
    if (line.lintFindings !== undefined) lint.push(line.lintFindings);
    if (line.diff) diffs.push(line.diff.addedLines + line.diff.removedLines);
    countGates(gates, line);
  }
  const mean = (values: number[]) => (values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : null);
  const withRate = (counts: { passed: number; failed: number }) => ({
    ...counts,
    rate: counts.passed + counts.failed ? counts.passed / (counts.passed + counts.failed) : null,
  });
  return {
    key,
    tasks: tasks.length,
    finished: finished.length,
    succeeded,
    successRate: finished.length ? succeeded / finished.length : null,
    gates: { L0: withRate(gates.L0), L1: withRate(gates.L1), L2: withRate(gates.L2) },
    meanSeconds: mean(seconds),
    computeSeconds: Math.round(computeSeconds),
    meanLintFindings: mean(lint),
    meanDiffLines: mean(diffs),
  };
}

/** Which gates a judged change reached and passed: a change stopped at L1 passed L0, and so on. */
function countGates(gates: Record<'L0' | 'L1' | 'L2', { passed: number; failed: number }>, line: GateHistoryLine): void {
  if (line.level === 'command' || line.phase === 'unchanged' || line.tests === undefined) return;
  const order = ['L0', 'L1', 'L2'] as const;
  const stoppedAt = line.level === 'L0' || line.level === 'L1' || line.level === 'L2' ? order.indexOf(line.level) : order.length;
  for (const [index, level] of order.entries()) {
    if (level === 'L2' && !line.l2Required) continue;
    if (index < stoppedAt) gates[level].passed += 1;
    else if (index === stoppedAt && line.phase !== 'review') gates[level].failed += 1;
  }
}
