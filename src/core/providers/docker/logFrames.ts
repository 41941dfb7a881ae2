import type { LogLine } from '../provider';

/** Splits the engine's multiplexed log stream (8-byte frame headers) into timestamped lines. */
export async function* parseLogFrames(source: AsyncIterable<Buffer> | Buffer[], signal?: AbortSignal): AsyncGenerator<LogLine> {
  let buffered: Buffer = Buffer.alloc(0);
  const partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  try {
    for await (const chunk of source) {
      if (signal?.aborted) return;
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      while (buffered.length >= 8) {
        const size = buffered.readUInt32BE(4);
        if (buffered.length < 8 + size) break;
        const stream = buffered[0] === 2 ? 'stderr' : 'stdout';
        const text = partial[stream] + buffered.subarray(8, 8 + size).toString('utf8');
        buffered = buffered.subarray(8 + size);
        const lines = text.split('\n');
        partial[stream] = lines.pop() ?? '';
        for (const line of lines) yield splitTimestamp(line, stream);
      }
    }
  } catch (error) {
    if (signal?.aborted) return;
    throw error;
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    if (partial[stream]) yield splitTimestamp(partial[stream], stream);
  }
}

function splitTimestamp(line: string, stream: 'stdout' | 'stderr'): LogLine {
  const space = line.indexOf(' ');
  return { time: space > 0 ? line.slice(0, space) : '', stream, text: space > 0 ? line.slice(space + 1) : line };
}
