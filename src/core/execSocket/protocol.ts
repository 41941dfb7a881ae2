/**
 * The local socket a long-lived process (the daemon, `sandbox mcp`) offers to `sandbox exec`: its
 * place in the state dir and its frames. Loaded by the CLI's lean entry too, so it imports
 * nothing but Node's path module.
 */
import * as path from 'node:path';

/** Bumped on any change of the frames below: a client and a server that differ fall back to the CLI's own path. */
export const EXEC_SOCKET_PROTOCOL = 2;

/** Set to `off`, `sandbox exec` takes its own path even with a socket to hand to (to tell the two apart). */
export const EXEC_SOCKET_ENV = 'AGENT_SANDBOXES_EXEC_SOCKET';

/** A frame's payload stays under this; a bigger length is a broken or hostile peer. */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** stdin and output travel in pieces of at most this size. */
export const DATA_CHUNK_BYTES = 64 * 1024;

/**
 * How much of stdin a client may send that the command has not taken yet. The server says how
 * much it took (stdinTaken), which the client may send again; a client past its window is cut
 * off, so a command that never reads stdin cannot make the server hold a piped file in memory.
 */
export const STDIN_WINDOW_BYTES = 1024 * 1024;

/** What each stdin frame costs against the window beyond its bytes: a flood of tiny frames is bounded too. */
export const STDIN_FRAME_COST = 256;

/** A stdin piece as counted against the window, on both sides alike. */
export function stdinCost(bytes: number): number {
  return bytes + STDIN_FRAME_COST;
}

/** The longest socket path Linux and macOS bind (sun_path less its terminating zero). */
export const MAX_SOCKET_PATH_BYTES = 103;

export const FRAME = {
  /** client: { protocol, argv } */
  hello: 1,
  /** client: bytes of its stdin */
  stdin: 2,
  /** client: its stdin ended */
  stdinEnd: 3,
  /** client: Ctrl-C, SIGTERM or a closed pipe: { outputClosed } */
  cancel: 4,
  /** server: the call is taken; from here on the client cannot fall back */
  accepted: 16,
  /** server: the call is not taken (another protocol): { reason } */
  refused: 17,
  /** server: bytes for the client's stdout */
  stdout: 18,
  /** server: bytes for the client's stderr */
  stderr: 19,
  /** server: the command reads stdin: send at most { window } bytes not taken yet */
  wantStdin: 20,
  /** server: the end, with the exit status: { status } */
  exit: 21,
  /** server: the command took pieces of stdin worth this much of the window (stdinCost): { bytes } */
  stdinTaken: 22,
} as const;

export type FrameType = (typeof FRAME)[keyof typeof FRAME];

export interface HelloMessage {
  protocol: number;
  /** The command line after `sandbox`, as the CLI got it. */
  argv: string[];
}

/** The folder of the socket: 0700, so only its owner reaches the socket inside. */
export function execSocketDir(stateRoot: string): string {
  return path.join(stateRoot, 'run');
}

/** One socket per state dir: a CLI of another state dir never reaches this one's server. */
export function execSocketPath(stateRoot: string): string {
  return path.join(execSocketDir(stateRoot), 'exec.sock');
}

/** Frame layout: 4 bytes of length (type byte and payload), 1 byte of type, the payload. */
export function encodeFrame(type: FrameType, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame.writeUInt32BE(body.length + 1, 0);
  frame.writeUInt8(type, 4);
  body.copy(frame, 5);
  return frame;
}

export function encodeJsonFrame(type: FrameType, value: unknown): Buffer {
  return encodeFrame(type, JSON.stringify(value));
}

export interface Frame {
  type: number;
  payload: Buffer;
}

/** Cuts a byte stream into frames; throws on a length past the limit, so a peer cannot make us buffer without end. */
export class FrameReader {
  private buffered: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxFrameBytes: number = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): Frame[] {
    this.buffered.push(chunk);
    this.size += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.size < 4) break;
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length < 1 || length - 1 > this.maxFrameBytes) {
        throw new Error(`A frame of ${length} bytes is past the limit of ${this.maxFrameBytes}.`);
      }
      if (this.size < 4 + length) break;
      const whole = this.take(4 + length);
      frames.push({ type: whole.readUInt8(4), payload: whole.subarray(5) });
    }
    return frames;
  }

  private peek(bytes: number): Buffer {
    if (this.buffered[0]!.length < bytes) this.buffered = [Buffer.concat(this.buffered)];
    return this.buffered[0]!.subarray(0, bytes);
  }

  private take(bytes: number): Buffer {
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    const taken = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return taken;
  }
}

/** A JSON payload as an object, or undefined when it is not one. */
export function parseJsonPayload(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A hello as the server accepts it: the protocol number and a command line of strings. */
export function parseHello(payload: Buffer): HelloMessage | undefined {
  const value = parseJsonPayload(payload);
  if (!value || typeof value.protocol !== 'number' || !Array.isArray(value.argv)) return undefined;
  if (!value.argv.every((arg): arg is string => typeof arg === 'string')) return undefined;
  return { protocol: value.protocol, argv: value.argv };
}

/**
 * Which calls the socket takes: `exec` (with --json anywhere before `--`), not its help, which
 * the CLI prints. Returns the arguments after `exec` with --json taken out, or undefined.
 */
export function execCallOf(argv: string[]): { json: boolean; args: string[] } | undefined {
  const commandStart = argv.indexOf('--');
  const isOption = (index: number) => commandStart < 0 || index < commandStart;
  const json = argv.some((arg, index) => arg === '--json' && isOption(index));
  const args = argv.filter((arg, index) => arg !== '--json' || !isOption(index));
  if (args[0] !== 'exec') return undefined;
  const rest = args.slice(1);
  const optionsEnd = rest.indexOf('--');
  const options = optionsEnd < 0 ? rest : rest.slice(0, optionsEnd);
  if (options.includes('--help') || options.includes('-h')) return undefined;
  return { json, args: rest };
}
