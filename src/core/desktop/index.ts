import type { Duplex } from 'node:stream';
import { SandboxError } from '../errors';
import type { ExecRequest, ExecResult, SandboxRecord } from '../model';
import type { SshSession } from '../ssh/session';
import { encodePng } from './png';
import { captureFrame, type Frame } from './rfb';

/** Where a desktop sandbox's VNC server listens: its own loopback, never published. */
export const VNC_PORT = 5900;

/** What the desktop needs of the sandboxes: finding one, its SSH connection, and a look inside. */
export interface DesktopSandboxes {
  status(ref: string): Promise<SandboxRecord>;
  session(ref: string | SandboxRecord): Promise<SshSession>;
  inspectExec(ref: string, request: ExecRequest): Promise<ExecResult>;
}

export function assertDesktop(record: SandboxRecord): void {
  if (!record.profile.desktop) {
    throw new SandboxError('invalid-input', `${record.name} has no desktop; start a sandbox with \`sandbox start --desktop\` to get one.`);
  }
}

/**
 * A byte stream to the sandbox's VNC server, carried by its SSH connection (a direct-tcpip
 * channel to its 127.0.0.1:5900). The desktop starts with the sandbox, so the first attempts
 * may find nothing listening yet: they are retried for a while.
 */
export async function openDesktopStream(
  sandboxes: DesktopSandboxes,
  ref: string,
  options: { signal?: AbortSignal; waitMs?: number } = {},
): Promise<{ stream: Duplex; record: SandboxRecord }> {
  const record = await sandboxes.status(ref);
  assertDesktop(record);
  if (record.state !== 'running') {
    throw new SandboxError('wrong-state', `${record.name} is ${record.state}; start it with \`sandbox start ${record.name}\` to see its desktop.`);
  }
  const session = await sandboxes.session(record);
  const deadline = Date.now() + (options.waitMs ?? 20_000);
  for (;;) {
    try {
      const stream = await session.forwardOut('127.0.0.1', VNC_PORT, options.signal);
      return { stream, record };
    } catch (error) {
      if (options.signal?.aborted) throw new SandboxError('cancelled', 'Opening the desktop was cancelled.');
      if (Date.now() > deadline) {
        throw new SandboxError(
          'provider-error',
          `The desktop of ${record.name} does not answer; see \`sandbox logs ${record.name}\` for what its desktop reported.`,
          { cause: error },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** One frame of the sandbox's desktop, read over SSH. */
export async function captureDesktop(sandboxes: DesktopSandboxes, ref: string, signal?: AbortSignal): Promise<Frame> {
  const { stream } = await openDesktopStream(sandboxes, ref, { signal });
  const onAbort = () => stream.destroy(new Error('cancelled'));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await captureFrame(stream);
  } catch (error) {
    if (signal?.aborted) throw new SandboxError('cancelled', 'The screenshot was cancelled.');
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stream.destroy();
  }
}

/** A PNG of the sandbox's desktop as it is now. */
export async function screenshot(sandboxes: DesktopSandboxes, ref: string, signal?: AbortSignal): Promise<{ png: Buffer; width: number; height: number }> {
  const frame = await captureDesktop(sandboxes, ref, signal);
  return { png: encodePng(frame.width, frame.height, frame.rgb), width: frame.width, height: frame.height };
}

/**
 * How many commands run in the sandbox now (each exec marks its process tree with its own
 * SANDBOX_EXEC_ID); this look itself is not counted. It runs as the sandbox's user: without
 * CAP_SYS_PTRACE even root cannot read another user's environment, and the agent's work runs
 * as that user.
 */
export async function runningTasks(sandboxes: DesktopSandboxes, ref: string): Promise<number> {
  const record = await sandboxes.status(ref);
  const script = [
    'own="SANDBOX_EXEC_ID=$SANDBOX_EXEC_ID"',
    'for environ in /proc/[0-9]*/environ; do tr "\\0" "\\n" < "$environ" 2>/dev/null | grep "^SANDBOX_EXEC_ID="; done | sort -u | grep -cvx "$own" || true',
  ].join('\n');
  const result = await sandboxes.inspectExec(record.id, { command: ['/bin/sh', '-c', script], timeoutMs: 10_000 });
  return Number(result.stdout.trim()) || 0;
}
