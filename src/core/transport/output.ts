import { constants } from 'node:os';

/** Keeps up to `limit` bytes of a stream for the result while passing every chunk on. */
export class OutputCollector {
  private readonly chunks: Buffer[] = [];
  private keptBytes = 0;
  totalBytes = 0;
  truncated = false;

  constructor(
    private readonly limit: number,
    private readonly onChunk?: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    this.onChunk?.(chunk);
    const room = this.limit - this.keptBytes;
    if (room <= 0) {
      this.truncated ||= chunk.length > 0;
      return;
    }
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length < chunk.length) this.truncated = true;
    this.chunks.push(kept);
    this.keptBytes += kept.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export function signalName(signalNumber: number): string {
  for (const [name, value] of Object.entries(constants.signals)) {
    if (value === signalNumber) return name;
  }
  return `SIG${signalNumber}`;
}
