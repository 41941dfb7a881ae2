import { PRELUDE_PREFIX } from './execGuardScript';

/** A prelude line longer than this is not ours. */
const MAX_PRELUDE_BYTES = 64;

/**
 * The front of a command's stderr, where our own wrapper and guard speak before the command
 * does: the guard's prelude line (taken off, its OOM count kept), then perhaps a report that
 * the program could not start, or sudo's refusal (held whole, for the exit status to explain).
 * Everything after that is the command's own and passes straight on.
 */
export class StderrFront {
  /** The sandbox's OOM kill count when the guard started, if it said. */
  oomCountBefore?: number;
  private held: Buffer | undefined = Buffer.alloc(0);
  private preludeDone: boolean;
  private holdingReport = false;

  constructor(
    private readonly reportPrefixes: string[],
    private readonly pass: (chunk: Buffer) => void,
    expectPrelude: boolean,
  ) {
    this.preludeDone = !expectPrelude;
  }

  push(chunk: Buffer): void {
    if (this.held === undefined) return this.pass(chunk);
    this.held = Buffer.concat([this.held, chunk]);
    this.decide();
  }

  private decide(): void {
    const held = this.held!;
    if (!this.preludeDone) {
      const text = held.toString('latin1', 0, Math.min(held.length, MAX_PRELUDE_BYTES));
      if (text.startsWith(PRELUDE_PREFIX)) {
        const end = text.indexOf('\n');
        if (end < 0) {
          if (held.length < MAX_PRELUDE_BYTES) return;
          this.preludeDone = true; // not a line of ours after all
        } else {
          const count = text.slice(PRELUDE_PREFIX.length, end);
          if (/^\d{1,15}$/.test(count)) this.oomCountBefore = Number(count);
          this.preludeDone = true;
          this.held = held.subarray(end + 1);
          return this.decide();
        }
      } else if (PRELUDE_PREFIX.startsWith(text)) {
        return; // too few bytes to tell
      } else if (!this.reportPrefixes.some((prefix) => text.startsWith(prefix) || prefix.startsWith(text))) {
        // Something spoke before the prelude (sudo, a shell): nothing more of ours to take off.
        this.preludeDone = true;
      }
    }
    if (this.holdingReport) return;
    const decideAfter = Math.max(0, ...this.reportPrefixes.map((prefix) => Buffer.byteLength(prefix)));
    const text = this.held!.toString('latin1', 0, Math.min(this.held!.length, decideAfter));
    if (this.held!.length < decideAfter) {
      if (this.held!.length === 0 || this.reportPrefixes.some((prefix) => prefix.startsWith(text))) return;
      return this.flush();
    }
    if (this.reportPrefixes.some((prefix) => text.startsWith(prefix))) this.holdingReport = true;
    else this.flush();
  }

  /** What was held back, if it was one of the reports; the caller decides from the exit status. */
  report(): string | undefined {
    return this.holdingReport && this.held ? this.held.toString('utf8') : undefined;
  }

  /** Passes on whatever is still held (the command's own output after all). */
  flush(): void {
    const pending = this.held;
    this.held = undefined;
    if (pending?.length) this.pass(pending);
  }
}
