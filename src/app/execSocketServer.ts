import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import type { SandboxController } from '../core/controller';
import { describeError } from '../core/errors';
import {
  EXEC_SOCKET_PROTOCOL,
  FRAME,
  FrameReader,
  MAX_SOCKET_PATH_BYTES,
  DATA_CHUNK_BYTES,
  STDIN_WINDOW_BYTES,
  encodeFrame,
  encodeJsonFrame,
  execCallOf,
  execSocketDir,
  execSocketPath,
  parseHello,
  parseJsonPayload,
} from '../core/execSocket/protocol';
import { reportCommandError } from './errorReport';
import { runExecCommandLine } from './execCommandLine';
import { ExecSocketStdin } from './execSocketStdin';
import { EXIT } from './exitStatus';

export interface ExecSocketServerOptions {
  /** The state dir whose sandboxes the calls act on: the socket is in it, and the controller is of it. */
  stateRoot: string;
  controller: SandboxController;
  log: (message: string) => void;
}

export interface ExecSocketServer {
  /** Where it listens; undefined when another process of this state dir serves already, or the path is too long. */
  path: string | undefined;
  close(): Promise<void>;
}

/** A client has this long to say what it wants; one that says nothing is let go. */
const HELLO_TIMEOUT_MS = 10_000;

/**
 * Serves `sandbox exec` over a unix socket in the state dir, with this long-lived process's
 * controller (so the command takes the exec agent). Only the owner reaches it: the socket is
 * 0600 in a 0700 folder. Node gives no peer credentials (SO_PEERCRED), so the file modes are the
 * check.
 */
export async function startExecSocketServer(options: ExecSocketServerOptions): Promise<ExecSocketServer> {
  const socketPath = execSocketPath(options.stateRoot);
  const idle: ExecSocketServer = { path: undefined, close: async () => undefined };
  // Windows has no unix file modes to keep others out (and the client looks for none there).
  if (process.platform === 'win32') return idle;
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    options.log(`No exec socket: its path ${socketPath} is too long for a unix socket; sandbox exec takes its own path.`);
    return idle;
  }
  const dir = execSocketDir(options.stateRoot);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700);
  if (await answers(socketPath)) {
    options.log(`Another process serves the exec socket ${socketPath}; this one leaves it to it.`);
    return idle;
  }
  await fs.rm(socketPath, { force: true });
  const connections = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    serveConnection(socket, options);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // The socket is made with 0600 from the start (the bind happens within listen); chmod below says it again.
    const umask = process.umask(0o177);
    try {
      server.listen(socketPath, () => resolve());
    } finally {
      process.umask(umask);
    }
  });
  await fs.chmod(socketPath, 0o600);
  const { ino } = await fs.stat(socketPath);
  server.on('error', (error) => options.log(`Exec socket: ${describeError(error)}`));
  options.log(`Serving sandbox exec on ${socketPath}.`);
  return {
    path: socketPath,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of connections) socket.destroy();
      });
      // Another process may have taken the path since; remove only our own socket.
      const now = await fs.stat(socketPath).catch(() => undefined);
      if (now?.ino === ino) await fs.rm(socketPath, { force: true });
    },
  };
}

/** Whether a process listens on the socket now (a file left by a crash does not answer). */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createConnection(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** One call: a hello, then the command's output until its exit status; a client gone mid-way cancels it. */
function serveConnection(socket: net.Socket, options: ExecSocketServerOptions): void {
  const reader = new FrameReader();
  const abort = new AbortController();
  let phase: 'hello' | 'running' | 'done' = 'hello';
  let outputClosed = false;
  let stdin: ExecSocketStdin | undefined;
  const send = (frame: Buffer) => {
    if (!socket.destroyed && socket.writable) socket.write(frame);
  };
  const sendOutput = (type: typeof FRAME.stdout | typeof FRAME.stderr, chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    for (let offset = 0; offset < bytes.length; offset += DATA_CHUNK_BYTES) {
      send(encodeFrame(type, bytes.subarray(offset, offset + DATA_CHUNK_BYTES)));
    }
  };
  const refuse = (reason: string) => {
    phase = 'done';
    send(encodeJsonFrame(FRAME.refused, { reason }));
    socket.end();
  };
  const helloTimer = setTimeout(() => phase === 'hello' && socket.destroy(), HELLO_TIMEOUT_MS).unref();
  socket.on('error', () => undefined);
  socket.once('close', () => {
    clearTimeout(helloTimer);
    stdin?.destroy();
    // A client that went away (killed, or its terminal closed) takes its command with it.
    if (phase === 'running') abort.abort();
  });

  const run = async (json: boolean, args: string[]) => {
    const output = {
      stdout: (chunk: Buffer | string) => sendOutput(FRAME.stdout, chunk),
      stderr: (chunk: Buffer | string) => sendOutput(FRAME.stderr, chunk),
    };
    let status: number;
    try {
      status = await runExecCommandLine(args, {
        json,
        controller: options.controller,
        signal: abort.signal,
        ...output,
        openStdin: () => {
          stdin = new ExecSocketStdin(STDIN_WINDOW_BYTES, (cost) => send(encodeJsonFrame(FRAME.stdinTaken, { bytes: cost })));
          send(encodeJsonFrame(FRAME.wantStdin, { window: STDIN_WINDOW_BYTES }));
          return stdin.stream;
        },
        closeStdin: () => stdin?.destroy(),
        outputClosed: () => outputClosed,
      });
    } catch (error) {
      status = outputClosed ? EXIT.ok : reportCommandError(error, { json, ...output }, abort.signal.aborted);
    }
    phase = 'done';
    send(encodeJsonFrame(FRAME.exit, { status }));
    socket.end();
  };

  const onFrame = (type: number, payload: Buffer) => {
    if (phase === 'hello') {
      if (type !== FRAME.hello) return refuse('The first frame must be a hello.');
      const hello = parseHello(payload);
      if (!hello) return refuse('The hello is not {protocol, argv}.');
      if (hello.protocol !== EXEC_SOCKET_PROTOCOL) return refuse(`This server speaks protocol ${EXEC_SOCKET_PROTOCOL}, not ${hello.protocol}.`);
      const call = execCallOf(hello.argv);
      if (!call) return refuse('Only sandbox exec is served here.');
      phase = 'running';
      clearTimeout(helloTimer);
      send(encodeFrame(FRAME.accepted));
      run(call.json, call.args).catch(() => socket.destroy());
      return;
    }
    if (phase !== 'running') return;
    if (type === FRAME.stdin) {
      // Past its window the client is not following the protocol; cutting it off ends its command.
      if (stdin && !stdin.receive(payload)) {
        options.log(
          `Exec socket: a client sent stdin past its window (${stdin.inUse} of ${STDIN_WINDOW_BYTES} in use, a piece of ${payload.length} bytes); cut off.`,
        );
        socket.destroy();
      }
    } else if (type === FRAME.stdinEnd) stdin?.end();
    else if (type === FRAME.cancel) {
      outputClosed = outputClosed || parseJsonPayload(payload)?.outputClosed === true;
      abort.abort();
    }
  };

  socket.on('data', (chunk: Buffer) => {
    if (phase === 'done') return;
    let frames;
    try {
      frames = reader.push(chunk);
    } catch (error) {
      // A frame past the limit: the stream cannot be trusted further; a running command ends with it.
      if (phase === 'hello') refuse(describeError(error));
      else socket.destroy();
      return;
    }
    for (const frame of frames) onFrame(frame.type, frame.payload);
  });
}
