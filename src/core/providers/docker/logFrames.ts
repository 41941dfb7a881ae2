import type { LogLine } from '../provider';

/** Characters kept of a line not yet ended: a line printed without end is cut, not held whole. */
const MAX_PARTIAL_CHARS = 1024 * 1024;

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
        partial[stream] = (lines.pop() ?? '').slice(0, MAX_PARTIAL_CHARS);
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

interface LogModem {
  dial(options: Record<string, unknown>, callback: (error: unknown, data: unknown) => void): void;
}

/**
 * A container's log as a stream, followed or not. Dockerode reads a log that is not followed whole
 * into one Buffer: a container printing without end would make that as large as its backlog, where
 * a stream is read only as far as its reader wants (it then aborts the request).
 */
export function containerLogStream(
  container: { id: string; modem: unknown },
  query: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<NodeJS.ReadableStream> {
  const modem = container.modem as LogModem;
  return new Promise((resolve, reject) =>
    modem.dial(
      {
        path: `/containers/${container.id}/logs?`,
        method: 'GET',
        isStream: true,
        statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
        options: query,
        ...(signal ? { abortSignal: signal } : {}),
      },
      (error, data) => (error ? reject(error as Error) : resolve(data as NodeJS.ReadableStream)),
    ),
  );
}
