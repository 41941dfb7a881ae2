/**
 * `sandbox logs` of a droplet: its system log, read over its SSH connection. `journalctl -b`
 * where systemd runs, else cloud-init's output log (the boot and the first-boot script). The
 * droplet is hostile: each line is cut at MAX_LOG_LINE_CHARS and made visible (no terminal
 * escapes), and the channel is paused while the reader lags, so a flood costs bounded memory.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { SandboxError, describeError, isSandboxError } from '../../errors';
import type { SshSession } from '../../ssh/session';
import { visibleLine } from '../../util/visibleText';
import type { LogLine, LogOptions } from '../provider';

/** Longer lines are cut (a `…` says so): a droplet may print a line without end. */
export const MAX_LOG_LINE_CHARS = 4096;
/** Lines read and not yet taken past which the channel is paused (the droplet's side then waits)... */
export const PAUSE_ABOVE_LINES = 1000;
/** ...and below which it is resumed. */
export const RESUME_BELOW_LINES = 250;
export const CLOUD_INIT_OUTPUT_LOG = '/var/log/cloud-init-output.log';

/**
 * The shell command that prints the log: as root through `sudo -n` where the login user may (the
 * system log is not the agent's to read otherwise), else as the login user.
 */
export function dropletLogCommand(options: Pick<LogOptions, 'tail' | 'follow'>): string {
  const tail = options.tail === undefined ? undefined : Math.max(0, Math.floor(options.tail));
  const journal = ['journalctl', '-b', '--no-pager', '--quiet', '-o', 'short-iso-precise'];
  if (tail !== undefined) journal.push('-n', String(tail));
  if (options.follow) journal.push('-f');
  const file = ['tail', '-n', tail === undefined ? '+1' : String(tail)];
  if (options.follow) file.push('-F');
  file.push(CLOUD_INIT_OUTPUT_LOG);
  return [
    'as=; [ "$(id -u)" = 0 ] || { sudo -n true 2>/dev/null && as="sudo -n"; }',
    `if [ -d /run/systemd/system ] && command -v journalctl >/dev/null 2>&1; then exec $as ${journal.join(' ')}; fi`,
    `exec $as ${file.join(' ')}`,
  ].join('\n');
}

/** The droplet's log lines (over the session the provider keeps for it), oldest first; with `follow`, new lines until the signal aborts. */
export async function* dropletLogs(sessionOfDroplet: () => Promise<SshSession>, options: LogOptions): AsyncGenerator<LogLine> {
  if (options.signal?.aborted) return;
  let session: SshSession;
  try {
    session = await sessionOfDroplet();
  } catch (error) {
    // A hibernated or powered-off droplet has no log to read; the sandbox's journal still tells its history.
    if (isSandboxError(error, 'wrong-state')) return;
    throw error;
  }
  let opened: Awaited<ReturnType<SshSession['exec']>>;
  try {
    opened = await session.exec(dropletLogCommand(options), options.signal);
  } catch (error) {
    throw new SandboxError('provider-error', `The droplet's log could not be read over SSH (${describeError(error)}); check that the sandbox runs.`);
  }
  const { channel } = opened;
  const queue = new LogLineQueue([
    { stream: 'stdout', source: channel },
    { stream: 'stderr', source: channel.stderr },
  ]);
  const stop = () => channel.close();
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    for await (const line of queue.lines()) yield journalLine(line.stream, line.text);
  } finally {
    options.signal?.removeEventListener('abort', stop);
    // Ends a `-f` left early; a finished channel is closed already.
    channel.close();
  }
}

/** A line of `journalctl -o short-iso-precise` carries its time: it becomes the entry's time. */
const JOURNAL_TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d) /;

function journalLine(stream: LogLine['stream'], text: string): LogLine {
  const match = JOURNAL_TIME.exec(text);
  if (match) {
    const offset = match[3] === 'Z' ? 'Z' : `${match[3]!.slice(0, 3)}:${match[3]!.slice(-2)}`;
    const time = new Date(`${match[1]}.${(match[2] ?? '0').padEnd(3, '0').slice(0, 3)}${offset}`);
    if (!Number.isNaN(time.getTime())) return { time: time.toISOString(), stream, text: text.slice(match[0].length) };
  }
  return { time: new Date().toISOString(), stream, text };
}

/** A byte stream that can be paused: an SSH channel or its stderr. */
export type PausableSource = Pick<Readable, 'on' | 'pause' | 'resume'>;

export interface QueueLimits {
  maxLineChars: number;
  pauseAboveLines: number;
  resumeBelowLines: number;
}

const DEFAULT_LIMITS: QueueLimits = { maxLineChars: MAX_LOG_LINE_CHARS, pauseAboveLines: PAUSE_ABOVE_LINES, resumeBelowLines: RESUME_BELOW_LINES };

/**
 * The lines of one or more byte streams, in the order they came, as visible text cut to a bound.
 * While more than `pauseAboveLines` wait to be taken, every source is paused; reading them down
 * below `resumeBelowLines` resumes them. Ends when every source has ended or closed.
 */
export class LogLineQueue<S extends string = LogLine['stream']> {
  private readonly waiting: { stream: S; text: string }[] = [];
  private readonly limits: QueueLimits;
  private open: number;
  private paused = false;
  private failure?: unknown;
  private wake?: () => void;

  constructor(
    private readonly sources: { stream: S; source: PausableSource }[],
    limits: Partial<QueueLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.open = sources.length;
    for (const { stream, source } of sources) this.attach(stream, source);
  }

  /** Whether the sources are paused now (the reader lags). */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Lines read and not yet taken. */
  get length(): number {
    return this.waiting.length;
  }

  async *lines(): AsyncGenerator<{ stream: S; text: string }> {
    for (;;) {
      const line = this.waiting.shift();
      if (line) {
        if (this.paused && this.waiting.length < this.limits.resumeBelowLines) this.setPaused(false);
        yield line;
        continue;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.open === 0) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  private attach(stream: S, source: PausableSource): void {
    const decoder = new StringDecoder('utf8');
    let partial = '';
    let ended = false;
    const take = (text: string, final: boolean) => {
      const pieces = (partial + text).split('\n');
      partial = final ? '' : pieces.pop()!;
      // A line without end is kept only up to one past the bound: enough to know it was cut.
      if (partial.length > this.limits.maxLineChars) partial = partial.slice(0, this.limits.maxLineChars + 1);
      if (final && pieces.length > 0 && pieces[pieces.length - 1] === '') pieces.pop();
      for (const piece of pieces) this.waiting.push({ stream, text: visibleLine(piece.replace(/\r$/, ''), this.limits.maxLineChars) });
      if (!this.paused && this.waiting.length > this.limits.pauseAboveLines) this.setPaused(true);
      this.wake?.();
    };
    const end = () => {
      if (ended) return;
      ended = true;
      take(decoder.end(), true);
      this.open--;
      this.wake?.();
    };
    source.on('data', (chunk: Buffer | string) => take(typeof chunk === 'string' ? chunk : decoder.write(chunk), false));
    source.on('end', end);
    source.on('close', end);
    source.on('error', (error: unknown) => {
      this.failure ??= error;
      end();
    });
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    for (const { source } of this.sources) {
      if (paused) source.pause();
      else source.resume();
    }
  }
}
