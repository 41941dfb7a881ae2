/**
 * Wire format between ExecAgentChannel and the exec agent (execAgentScript.ts): frames of
 * [type u8][exec id u32][payload length u32][payload], big-endian, carried on the stdin and
 * stdout of one `docker exec`. The engine wraps that stdout in its own 8-byte stream headers,
 * which DockerStreamDemux takes off first.
 */

export const AgentFrame = {
  // host -> agent
  /** JSON StartPayload. */
  Start: 1,
  /** Bytes for the command's stdin. */
  Stdin: 2,
  /** No more stdin: the agent closes the command's stdin once it has taken what was sent. */
  StdinEof: 3,
  /** "TERM" or "KILL", sent to the command's whole process tree. */
  Signal: 4,
  // agent -> host
  /** Exec id 0; JSON { protocol, pid }. */
  Ready: 16,
  /** JSON { pid }: the command runs. */
  Started: 17,
  /** JSON StartFailedPayload. */
  StartFailed: 18,
  Stdout: 19,
  Stderr: 20,
  /** JSON ExitPayload; the last frame of an exec. */
  Exit: 21,
  /** u32: this many stdin bytes left the agent (taken by the command or dropped). */
  StdinAck: 22,
} as const;

export type AgentFrameType = (typeof AgentFrame)[keyof typeof AgentFrame];

export interface StartPayload {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  user: string;
  /** Whether stdin frames follow; without them the command's stdin is /dev/null. */
  hasStdin: boolean;
  /** An environment entry (KEY=value) carried by the command: the agent kills processes holding it too. */
  marker: string;
  /** Left running when the agent ends (its host went away). */
  detached?: boolean;
}

export interface StartFailedPayload {
  reason: 'not-found' | 'not-executable' | 'bad-cwd' | 'other';
  message: string;
}

export interface ExitPayload {
  code?: number;
  signal?: number;
  /** The agent gave up waiting for output held open by a process it could not kill. */
  abandoned?: boolean;
  /** Processes the sandbox's memory limit killed while the command ran (the cgroup's counter). */
  oomKills?: number;
}

export const FRAME_HEADER_BYTES = 9;
/** Largest payload the host puts in one frame. */
export const MAX_FRAME_PAYLOAD = 64 * 1024;

export function encodeFrame(type: AgentFrameType, id: number, payload?: Buffer | string): Buffer {
  const body = payload === undefined ? undefined : typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + (body?.length ?? 0));
  frame.writeUInt8(type, 0);
  frame.writeUInt32BE(id, 1);
  frame.writeUInt32BE(body?.length ?? 0, 5);
  body?.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** A FIFO of received chunks that hands out exact byte counts, copying only across chunk edges. */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private offset = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Removes and returns the next `count` bytes; the caller checks `length` first. */
  take(count: number): Buffer {
    if (count > this.length) throw new RangeError(`only ${this.length} bytes queued, ${count} asked`);
    this.length -= count;
    const head = this.chunks[0];
    if (count === 0) return Buffer.alloc(0);
    if (head && head.length - this.offset >= count) {
      const out = head.subarray(this.offset, this.offset + count);
      this.offset += count;
      if (this.offset === head.length) {
        this.chunks.shift();
        this.offset = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[0]!;
      const n = Math.min(count - filled, chunk.length - this.offset);
      chunk.copy(out, filled, this.offset, this.offset + n);
      filled += n;
      this.offset += n;
      if (this.offset === chunk.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    return out;
  }
}

/** Cuts the agent's byte stream into frames, however the bytes were split on the way. */
export class FrameReader {
  private readonly queue = new ByteQueue();
  private header?: { type: number; id: number; length: number };

  constructor(private readonly onFrame: (type: number, id: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.queue.push(chunk);
    for (;;) {
      if (!this.header) {
        if (this.queue.length < FRAME_HEADER_BYTES) return;
        const head = this.queue.take(FRAME_HEADER_BYTES);
        this.header = { type: head.readUInt8(0), id: head.readUInt32BE(1), length: head.readUInt32BE(5) };
      }
      if (this.queue.length < this.header.length) return;
      const { type, id, length } = this.header;
      this.header = undefined;
      this.onFrame(type, id, this.queue.take(length));
    }
  }
}

/**
 * Takes the engine's stream headers ([stream u8][0 0 0][size u32]) off an attached exec's
 * output and passes stdout and stderr bytes on as they arrive, without waiting for whole frames.
 */
export class DockerStreamDemux {
  private readonly header = Buffer.alloc(8);
  private headerFill = 0;
  private remaining = 0;
  private stream = 1;

  constructor(
    private readonly onStdout: (chunk: Buffer) => void,
    private readonly onStderr: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining === 0) {
        const n = Math.min(8 - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + n);
        this.headerFill += n;
        at += n;
        if (this.headerFill < 8) return;
        this.headerFill = 0;
        this.stream = this.header[0]!;
        this.remaining = this.header.readUInt32BE(4);
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - at);
      const part = chunk.subarray(at, at + n);
      at += n;
      this.remaining -= n;
      if (this.stream === 2) this.onStderr(part);
      else this.onStdout(part);
    }
  }
}
