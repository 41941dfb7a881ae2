import type { Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import { SandboxError, describeError } from '../errors';

/** Starts a login shell: bash where the image has it, sh otherwise. */
export const INTERACTIVE_SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi'];

export interface TtySize {
  columns: number;
  rows: number;
}

export interface TtySessionOptions {
  command?: string[];
  user?: string;
  cwd?: string;
  env?: Record<string, string>;
  size?: TtySize;
}

/** An interactive process with a terminal inside a container: bytes in, bytes out, resizable. */
export interface TtySession {
  write(data: string | Buffer): void;
  resize(size: TtySize): Promise<void>;
  /** Ends the input; a shell then exits on its own. */
  end(): void;
  /** Drops the connection at once. */
  close(): void;
  onData(listener: (data: Buffer) => void): void;
  /** Resolves with the process's exit code once its output ends (null when the engine cannot tell). */
  readonly exited: Promise<number | null>;
}

/**
 * Opens an interactive process with a TTY through the Docker exec API. With a TTY the engine
 * sends one raw stream (no stdout/stderr framing), and the size is set through the exec's own
 * resize endpoint, so full-screen programs and line editing work as in a local terminal.
 */
export async function openTtySession(docker: Dockerode, containerId: string, options: TtySessionOptions = {}): Promise<TtySession> {
  const env = { TERM: 'xterm-256color', ...(options.env ?? {}) };
  let exec: Dockerode.Exec;
  let stream: Duplex;
  try {
    exec = await docker.getContainer(containerId).exec({
      Cmd: options.command ?? INTERACTIVE_SHELL,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: true,
      User: options.user,
      WorkingDir: options.cwd,
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      ConsoleSize: options.size ? [options.size.rows, options.size.columns] : undefined,
    });
    stream = (await exec.start({ hijack: true, stdin: true, Tty: true })) as Duplex;
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 409) throw new SandboxError('wrong-state', `The sandbox is not running, so no terminal can open in it; start it first.`, { cause: error });
    if (status === 404) throw new SandboxError('not-found', 'The sandbox container is gone; it was removed outside Agent Sandboxes.', { cause: error });
    throw new SandboxError('provider-error', `The Docker engine could not open a terminal: ${describeError(error)}.`, { cause: error });
  }

  const listeners: ((data: Buffer) => void)[] = [];
  const early: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => {
    if (listeners.length === 0) early.push(chunk);
    for (const listener of listeners) listener(chunk);
  });
  const exited = new Promise<number | null>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      exec.inspect().then(
        (info) => resolve(info.ExitCode ?? null),
        () => resolve(null),
      );
    };
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', finish);
  });
  if (options.size) await exec.resize({ h: options.size.rows, w: options.size.columns }).catch(() => undefined);

  return {
    write: (data) => {
      if (!stream.destroyed && stream.writable) stream.write(data);
    },
    resize: async (size) => {
      if (size.columns > 0 && size.rows > 0) await exec.resize({ h: size.rows, w: size.columns }).catch(() => undefined);
    },
    end: () => stream.end(),
    close: () => stream.destroy(),
    onData: (listener) => {
      listeners.push(listener);
      for (const chunk of early.splice(0)) listener(chunk);
    },
    exited,
  };
}
