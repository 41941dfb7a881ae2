import { randomBytes } from 'node:crypto';
import type { InterpreterSandboxes } from './interpreterSandboxes';
import { SandboxError } from '../errors';
import type { PortForward } from '../ssh/forward';
import { EXEC_MARKER_ENV } from '../transport/dockerExec';
import { visibleLine } from '../util/visibleText';
import { NOTEBOOK_SCRIPT, NOTEBOOK_SCRIPT_NAME } from './notebookScript';

/**
 * `sandbox jupyter` and Open Jupyter: the sandbox's Jupyter Notebook server, started on its own
 * 127.0.0.1 with a token (or the one already running), and opened here over a port forward.
 */

/** A notebook server running in a sandbox: the port inside it and the token it asks for. */
export interface NotebookServer {
  remotePort: number;
  token: string;
}

export interface OpenedNotebook extends NotebookServer {
  sandboxId: string;
  sandboxName: string;
  forward: PortForward;
  /** The local URL with the token: whoever has it may run code in the sandbox. */
  url: string;
}

/** What a token looks like here: the launcher's answer comes from the sandbox and is checked. */
const TOKEN = /^[0-9a-f]{32,128}$/;

/** The launcher's one line, checked: a server's port and token, or why it failed. */
export function parseNotebookAnswer(stdout: string): NotebookServer | { failed: string } {
  let said: unknown;
  try {
    said = JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
  } catch {
    return { failed: 'no answer' };
  }
  const { state, port, token, message } = (typeof said === 'object' && said !== null ? said : {}) as Record<string, unknown>;
  if (state === 'failed') return { failed: typeof message === 'string' ? visibleLine(message, 300) : 'no reason given' };
  if (state !== 'started' && state !== 'running') return { failed: 'an answer that is not one' };
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return { failed: 'no port' };
  if (typeof token !== 'string' || !TOKEN.test(token)) return { failed: 'a token that is not one' };
  return { remotePort: port, token };
}

/** Starts the notebook server in the sandbox as its user (or finds ours running): its port and token. */
export async function startNotebookServer(controller: InterpreterSandboxes, ref: string, signal?: AbortSignal): Promise<NotebookServer> {
  const record = await controller.resolve(ref);
  if (record.state !== 'running') throw new SandboxError('wrong-state', `${record.name} is ${record.state}; start it first (sandbox start ${record.name}).`);
  const token = randomBytes(24).toString('hex');
  // Detached: the server outlives this exec. The token travels on stdin, never on a command line.
  const result = await controller.inspectExec(record.id, {
    command: ['env', '-u', EXEC_MARKER_ENV, 'python3', '-I', '-c', NOTEBOOK_SCRIPT, NOTEBOOK_SCRIPT_NAME],
    stdin: JSON.stringify({ token }),
    detached: true,
    timeoutMs: 90_000,
    maxOutputBytes: 16 * 1024,
    signal,
  });
  if (/No module named '?notebook/.test(result.stderr))
    throw new SandboxError(
      'image-missing',
      `${record.name} has no Jupyter Notebook server; rebuild its image with "sandbox image build" (or install jupyter-notebook there).`,
    );
  const answer = parseNotebookAnswer(result.stdout);
  if ('failed' in answer) {
    const said = visibleLine(result.stderr.trim().split('\n').at(-1) ?? '', 200);
    throw new SandboxError(
      'provider-error',
      `The Jupyter server did not start in ${record.name} (${answer.failed}${said ? `; ${said}` : ''}); see ~/.sandbox-notebook/server.log there.`,
    );
  }
  return answer;
}

/** The sandbox's notebook server, started if need be, forwarded to 127.0.0.1 here (localPort, or a free one). */
export async function openNotebook(
  controller: InterpreterSandboxes,
  ref: string,
  options: { localPort?: number; signal?: AbortSignal } = {},
): Promise<OpenedNotebook> {
  const record = await controller.resolve(ref);
  const server = await startNotebookServer(controller, record.id, options.signal);
  // A forward of this process to the same server (Open Jupyter again) is used again.
  const open = controller.forwards(record.id).find((candidate) => candidate.remotePort === server.remotePort && options.localPort === undefined);
  const forward = open ?? (await controller.forward(record.id, server.remotePort, { localPort: options.localPort }));
  return { ...server, sandboxId: record.id, sandboxName: record.name, forward, url: `${forward.url}tree?token=${server.token}` };
}
