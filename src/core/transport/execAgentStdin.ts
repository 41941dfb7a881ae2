import type { ExecRequest } from '../model';
import { AgentFrame, MAX_FRAME_PAYLOAD, type AgentFrameType } from './execAgentProtocol';

/** Stdin bytes one exec may have on the way to the agent before it must confirm some. */
const STDIN_WINDOW_BYTES = 1024 * 1024;

/** What the pump needs of the channel it writes to. */
export interface StdinChannel {
  readonly congested: boolean;
  whenDrained(fn: () => void): void;
  send(type: AgentFrameType, id: number, payload?: Buffer | string): boolean;
}

/**
 * Sends one command's stdin to the agent in frames, never more than STDIN_WINDOW_BYTES ahead of
 * what the agent confirmed, and never into a socket that asked to drain: a slow reader inside
 * the sandbox slows the source down instead of filling memory.
 */
export class StdinPump {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private credit = STDIN_WINDOW_BYTES;
  private ended = false;
  private eofSent = false;
  private stopped = false;
  private waiting = false;
  private readonly source?: NodeJS.ReadableStream;
  private readonly onData = (chunk: Buffer | string) => {
    const data = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (data.length > 0) {
      this.queue.push(data);
      this.queued += data.length;
    }
    this.pump();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.pump();
  };

  constructor(
    private readonly channel: StdinChannel,
    private readonly id: number,
    stdin: NonNullable<ExecRequest['stdin']>,
  ) {
    if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) {
      this.onData(stdin);
      this.onEnd();
      return;
    }
    this.source = stdin;
    stdin.on('data', this.onData);
    stdin.on('end', this.onEnd);
    // A failing source ends the command's stdin: what came before it still counts.
    stdin.on('error', this.onEnd);
  }

  acknowledge(bytes: number): void {
    this.credit += bytes;
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    if (this.source) {
      this.source.removeListener('data', this.onData);
      this.source.removeListener('end', this.onEnd);
      this.source.removeListener('error', this.onEnd);
      this.source.pause();
    }
  }

  private pump(): void {
    if (this.stopped || this.waiting) return;
    while (this.queue.length > 0 && this.credit > 0) {
      if (this.channel.congested) {
        this.waiting = true;
        this.channel.whenDrained(() => {
          this.waiting = false;
          this.pump();
        });
        break;
      }
      const head = this.queue[0]!;
      const size = Math.min(head.length, this.credit, MAX_FRAME_PAYLOAD);
      const piece = size === head.length ? head : head.subarray(0, size);
      if (size === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(size);
      this.queued -= size;
      this.credit -= size;
      this.channel.send(AgentFrame.Stdin, this.id, piece);
    }
    if (this.queue.length === 0 && this.ended && !this.eofSent && !this.waiting) {
      this.eofSent = true;
      this.channel.send(AgentFrame.StdinEof, this.id);
    }
    // Hold the source back while a window's worth waits here.
    if (this.source && !this.ended) {
      if (this.queued >= STDIN_WINDOW_BYTES) this.source.pause();
      else this.source.resume();
    }
  }
}
