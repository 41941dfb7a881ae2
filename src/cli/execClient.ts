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
  stdinCost,
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

    // stdin goes out within the window the server gives: what it has not taken yet stays here, with stdin paused.
    let stdinCredit = 0;
    let stdinEnded = false;
    let stdinEndSent = false;
    const stdinWaiting: Buffer[] = [];
    const sendStdin = () => {
      while (stdinWaiting.length > 0 && stdinCredit > stdinCost(0) && !socket.destroyed) {
        const head = stdinWaiting[0]!;
        const size = Math.min(head.length, stdinCredit - stdinCost(0), DATA_CHUNK_BYTES);
        socket.write(encodeFrame(FRAME.stdin, head.subarray(0, size)));
        stdinCredit -= stdinCost(size);
        if (size === head.length) stdinWaiting.shift();
        else stdinWaiting[0] = head.subarray(size);
      }
      if (stdinWaiting.length > 0) return process.stdin.pause();
      if (!stdinEnded) {
        if (readingStdin) process.stdin.resume();
      } else if (!stdinEndSent) {
        stdinEndSent = true;
        socket.write(encodeFrame(FRAME.stdinEnd));
      }
    };
    const endStdin = () => {
      stdinEnded = true;
      sendStdin();
    };
    const forwardStdin = (window: number) => {
      if (readingStdin) return;
      readingStdin = true;
      stdinCredit = window;
      process.stdin.on('data', (chunk: Buffer) => {
        stdinWaiting.push(chunk);
        sendStdin();
      });
      process.stdin.once('end', endStdin);
      process.stdin.once('error', endStdin);
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
      else if (type === FRAME.wantStdin) forwardStdin(positiveNumber(parseJsonPayload(payload)?.window));
      else if (type === FRAME.stdinTaken) {
        stdinCredit += positiveNumber(parseJsonPayload(payload)?.bytes);
        sendStdin();
      } else if (type === FRAME.exit) {
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

function positiveNumber(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}
