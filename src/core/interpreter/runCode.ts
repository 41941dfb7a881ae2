import type { InterpreterSandboxes } from './interpreterSandboxes';
import { SandboxError } from '../errors';
import type { ExecResult } from '../model';
import { EXEC_MARKER_ENV } from '../transport/dockerExec';
import { visibleLine } from '../util/visibleText';
import { NO_KERNEL, UNRESPONSIVE, parseCodeResult, type CodeResult } from './codeResult';
import { KERNEL_SCRIPT, KERNEL_SCRIPT_NAME, MAX_IMAGE_BYTES, MAX_IMAGES } from './kernelScript';

/**
 * run_code: Python in a kernel of the sandbox that keeps its state between calls. The kernel
 * runs as the sandbox's user, started on the first call (and again after it died); each call is
 * one exec of the kernel client (kernelScript.ts), whose answer is read as hostile.
 */

export const DEFAULT_CODE_TIMEOUT_MS = 5 * 60_000;
export const MAX_CODE_CHARS = 1024 * 1024;
/** What the client may print: the images (base64) and the text caps, with room to spare. */
const MAX_CLIENT_OUTPUT_BYTES = MAX_IMAGES * Math.ceil(MAX_IMAGE_BYTES / 3) * 4 + 2 * 1024 * 1024;
/** The exec's own limit beyond the code's timeout: the client interrupts the kernel first, then waits 5 s. */
const EXEC_GRACE_MS = 30_000;

export interface RunCodeOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

function clientArgv(mode: 'start' | 'run'): string[] {
  const argv = ['python3', '-I', '-c', KERNEL_SCRIPT, KERNEL_SCRIPT_NAME, mode];
  // The kernel goes without the exec's kill marker, which would end it with the exec that
  // started it; a run keeps its own, so a cancel finds it on every channel.
  return mode === 'start' ? ['env', '-u', EXEC_MARKER_ENV, ...argv] : argv;
}

function clientFailure(what: string, result: ExecResult): string {
  const said = (result.stderr.trim().split('\n').at(-1) ?? '').trim();
  if (/No module named '?(jupyter_client|ipykernel)/.test(said))
    return `The sandbox has no IPython kernel (python3-ipykernel and python3-jupyter-client); rebuild its image with "sandbox image build" or install them there.`;
  if (result.exitCode === 127) return 'The sandbox has no python3, which the code interpreter needs; use a sandbox image.';
  return `The code interpreter ${what} (${said ? visibleLine(said, 200) : `exit ${result.exitCode ?? result.signal}`}).`;
}

/** Starts the sandbox's kernel unless it runs; says whether an earlier one had died (its state lost). */
async function ensureKernel(controller: InterpreterSandboxes, sandboxId: string, signal?: AbortSignal): Promise<{ lost: boolean }> {
  // Detached: the kernel outlives this exec, and a later call's owner check never kills it.
  const result = await controller.inspectExec(sandboxId, {
    command: clientArgv('start'),
    detached: true,
    timeoutMs: 90_000,
    maxOutputBytes: 16 * 1024,
    signal,
  });
  let said: unknown;
  try {
    said = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '');
  } catch {
    throw new SandboxError('provider-error', clientFailure('could not start a kernel', result));
  }
  const { kernel, lost, message } = (typeof said === 'object' && said !== null ? said : {}) as Record<string, unknown>;
  if (kernel === 'running') return { lost: false };
  if (kernel === 'started') return { lost: lost === true };
  const why = typeof message === 'string' ? visibleLine(message, 200) : 'no answer';
  throw new SandboxError('provider-error', `The code interpreter could not start a kernel in the sandbox (${why}); see ~/.sandbox-kernel/kernel.log there.`);
}

async function runOnce(controller: InterpreterSandboxes, sandboxId: string, code: string, timeoutMs: number, signal?: AbortSignal) {
  const result = await controller.exec(sandboxId, {
    command: clientArgv('run'),
    stdin: JSON.stringify({ code, timeoutMs }),
    timeoutMs: timeoutMs + EXEC_GRACE_MS,
    maxOutputBytes: MAX_CLIENT_OUTPUT_BYTES,
    signal,
  });
  if (result.cancelled) throw new SandboxError('cancelled', 'The call was cancelled; the kernel was interrupted and keeps its state.');
  const parsed = parseCodeResult(result.stdout);
  if (parsed === undefined) throw new SandboxError('provider-error', clientFailure('gave no result', result));
  if (parsed === UNRESPONSIVE)
    throw new SandboxError(
      'provider-error',
      'The kernel in the sandbox does not answer; end it with `kill $(cat ~/.sandbox-kernel/kernel.pid)` (its state is lost) and run the code again, which starts a new one.',
    );
  return parsed;
}

/** Runs Python code in the sandbox's kernel: its output, value, figures and error. */
export async function runCode(controller: InterpreterSandboxes, ref: string, code: string, options: RunCodeOptions = {}): Promise<CodeResult> {
  if (code.length > MAX_CODE_CHARS) throw new SandboxError('invalid-input', 'The code is over 1 MiB; write it to a file in the sandbox and run that instead.');
  const record = await controller.resolve(ref);
  if (record.state !== 'running') throw new SandboxError('wrong-state', `${record.name} is ${record.state}; start it first (sandbox start ${record.name}).`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_CODE_TIMEOUT_MS;
  const first = await runOnce(controller, record.id, code, timeoutMs, options.signal);
  if (first !== NO_KERNEL) return first;
  const { lost } = await ensureKernel(controller, record.id, options.signal);
  const second = await runOnce(controller, record.id, code, timeoutMs, options.signal);
  if (second === NO_KERNEL)
    throw new SandboxError('provider-error', 'The kernel started in the sandbox stopped at once; see ~/.sandbox-kernel/kernel.log there.');
  return lost ? { ...second, kernelRestarted: true } : second;
}
