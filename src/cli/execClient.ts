/**
 * `sandbox exec` over the exec socket of a long-lived process (the daemon, `sandbox mcp`): the
 * lean entry's only work. It loads nothing but Node's own modules, and hands back to the full CLI
 * (returns undefined) whenever the socket cannot take the call before it is accepted.
 */
import { lstatSync, type Stats } from 'node:fs';
import * as net from 'node:net';
import {
  EXEC_SOCKET_ENV,
  EXEC_SOCKET_PROTOCOL,
  FRAME,
  FrameReader,
  DATA_CHUNK_BYTES,
  encodeFrame,
  encodeJsonFrame,
  execCallOf,
  execSocketDir,
  execSocketPath,
  parseJsonPayload,
} from '../core/execSocket/protocol';
import { defaultStateDir } from '../core/store/stateDir';

const EXIT_FAILURE = 1;
const EXIT_CANCELLED = 130;

/** The socket to use, or undefined: it must be ours, 0600, in our 0700 folder. */
export function usableExecSocket(stateRoot: string, uid: number | undefined = process.getuid?.()): string | undefined {
  if (uid === undefined) return undefined; // no unix ids (Windows): no socket
  const ownedWithMode = (stats: Stats | undefined, mode: number) => stats !== undefined && stats.uid === uid && (stats.mode & 0o777) === mode;
  const dir = statOrUndefined(execSocketDir(stateRoot));
  if (!dir?.isDirectory() || !ownedWithMode(dir, 0o700)) return undefined;
  const socketPath = execSocketPath(stateRoot);
  const socket = statOrUndefined(socketPath);
  if (!socket?.isSocket() || !ownedWithMode(socket, 0o600)) return undefined;
  return socketPath;
}

function statOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch {
    return undefined;
  }
}

/** Runs the exec call over the socket and returns its exit status, or undefined to take the CLI's own path. */
export function execOverSocket(argv: string[], stateRoot: string = defaultStateDir()): Promise<number | undefined> {
  if (!execCallOf(argv) || process.env[EXEC_SOCKET_ENV] === 'off') return Promise.resolve(undefined);
  const socketPath = usableExecSocket(stateRoot);
  if (!socketPath) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const socket = net.createConnection(socketPath);
    const reader = new FrameReader();
    let accepted = false;
    let finished = false;
    let interrupts = 0;
    let readingStdin = false;
    let outputClosed = false;

    const cancel = (closedOutput: boolean) => {
      if (!socket.destroyed) socket.write(encodeJsonFrame(FRAME.cancel, { outputClosed: closedOutput }));
    };
    const onSignal = () => {
      interrupts++;
      if (interrupts > 1) process.exit(EXIT_CANCELLED); // a second Ctrl-C means now
      cancel(false);
    };
    const onOutputError = (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      outputClosed = true;
      cancel(true);
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    const finish = (status: number | undefined) => {
      if (finished) return;
      finished = true;
      for (const signal of signals) process.off(signal, onSignal);
      process.stdout.off('error', onOutputError);
      // Whatever was not read of stdin would keep this process alive after the command ended.
      if (readingStdin) process.stdin.destroy();
      socket.destroy();
      resolve(status);
    };

    const forwardStdin = () => {
      if (readingStdin) return;
      readingStdin = true;
      process.stdin.on('data', (chunk: Buffer) => {
        let written = true;
        for (let offset = 0; offset < chunk.length; offset += DATA_CHUNK_BYTES) {
          written = socket.write(encodeFrame(FRAME.stdin, chunk.subarray(offset, offset + DATA_CHUNK_BYTES)));
        }
        // The server reads as fast as it can; a full socket means stdin waits, not this process's memory.
        if (!written) {
          process.stdin.pause();
          socket.once('drain', () => process.stdin.resume());
        }
      });
      process.stdin.once('end', () => socket.write(encodeFrame(FRAME.stdinEnd)));
      process.stdin.once('error', () => socket.write(encodeFrame(FRAME.stdinEnd)));
    };

    const onFrame = (type: number, payload: Buffer) => {
      if (!accepted) {
        if (type !== FRAME.accepted) return finish(undefined); // refused: another protocol, or not ours to take
        accepted = true;
        for (const signal of signals) process.on(signal, onSignal);
        process.stdout.on('error', onOutputError);
        return;
      }
      if (type === FRAME.stdout) {
        if (!outputClosed) process.stdout.write(payload);
      } else if (type === FRAME.stderr) process.stderr.write(payload);
      else if (type === FRAME.wantStdin) forwardStdin();
      else if (type === FRAME.exit) {
        const status = parseJsonPayload(payload)?.status;
        finish(typeof status === 'number' ? status : EXIT_FAILURE);
      }
    };

    socket.once('connect', () => socket.write(encodeJsonFrame(FRAME.hello, { protocol: EXEC_SOCKET_PROTOCOL, argv })));
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch {
        frames = undefined;
      }
      if (!frames) return lost();
      for (const frame of frames) {
        if (finished) return;
        onFrame(frame.type, frame.payload);
      }
    });
    const lost = () => {
      if (finished) return;
      if (!accepted) return finish(undefined);
      process.stderr.write(
        'sandbox: The connection to the exec socket broke before the command ended, so its outcome is unknown; see `sandbox logs NAME`, and `sandbox daemon status`.\n',
      );
      finish(EXIT_FAILURE);
    };
    socket.on('error', lost);
    socket.on('close', lost);
  });
}
