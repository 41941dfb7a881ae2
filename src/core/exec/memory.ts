import type { ExecRequest, ExecResult } from '../model';
import { formatSize } from '../profile';
import { OOM_COUNT_PY } from '../transport/execGuardScript';
import { OOM_COUNT_BEFORE, OOM_KILLS, type ExecResultWithOom } from '../transport/output';

/** Reads the OOM kill count of the sandbox's cgroup, from inside it (read-only there, even for root). */
export const OOM_COUNT_READ: ExecRequest = {
  command: ['python3', '-I', '-S', '-c', `${OOM_COUNT_PY}\nprint('' if oom_count() is None else oom_count())`],
  cwd: '/',
  timeoutMs: 10_000,
};

/**
 * Whether the sandbox's memory limit killed a process while the command ran, said with the
 * limit; undefined when it did not (or the counter cannot be read). The counter is read before
 * and after the command: by the exec agent itself, or by the guard before and here after
 * (only for a command that failed, so a success costs nothing).
 */
export async function outOfMemory(result: ExecResult, memoryLimit: number, readCountAfter: () => Promise<ExecResult>): Promise<string | undefined> {
  const marked = result as ExecResultWithOom;
  let kills = marked[OOM_KILLS] ?? 0;
  const before = marked[OOM_COUNT_BEFORE];
  if (!kills && before !== undefined && (result.exitCode !== 0 || result.signal !== undefined)) {
    const after = await readCountAfter().then(
      (read) => (read.exitCode === 0 && /^\d{1,15}\n?$/.test(read.stdout) ? Number(read.stdout) : undefined),
      () => undefined,
    );
    if (after !== undefined && after > before) kills = after - before;
  }
  if (!kills) return undefined;
  const limit = formatSize(memoryLimit);
  const killed = result.exitCode === 137 || result.signal === 'SIGKILL';
  return killed
    ? `The command was killed: the sandbox ran out of memory (limit ${limit}); raise it with --memory when you start a sandbox.`
    : `The sandbox ran out of memory while the command ran (limit ${limit}) and the kernel killed a process; raise it with --memory when you start a sandbox.`;
}
