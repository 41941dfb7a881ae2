import type { GateResultEvent } from '../events/types';
import type { GateResult } from './pipeline';
import { plural } from './verdicts';

/** The bus's `gate.result` of a result as it stands: figures only, nothing a test printed. */
export function gateResultEvent(sandboxId: string, result: GateResult, passed: boolean, durationMs: number): Omit<GateResultEvent, 'time'> {
  const tests = result.l0?.tests ?? [];
  const failed = tests.filter((test) => test.status === 'failed' || test.status === 'error').length;
  const { files, addedLines, removedLines } = result.stats;
  const summary = [
    `${plural(files, 'file')} (+${addedLines} -${removedLines})`,
    `${plural(tests.length, 'test')}, ${failed} failed`,
    plural(result.l1.length, 'regression'),
  ].join('; ');
  return {
    type: 'gate.result',
    sandboxId,
    taskId: result.taskId,
    attempt: result.attempt,
    ...(result.level !== undefined ? { level: result.level } : {}),
    outcome: result.phase === 'checking' ? 'failed' : result.phase,
    passed,
    durationMs,
    summary,
  };
}
