import { SandboxError } from '../core/errors';

/** One question on the terminal (asked on stderr, so stdout stays the command's output); the answer trimmed. */
export async function ask(question: string): Promise<string> {
  const { createInterface } = await import('node:readline/promises');
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await prompt.question(question)).trim();
  } finally {
    prompt.close();
  }
}

/** One y/N question; anything but yes is no. */
export async function askYesNo(question: string): Promise<boolean> {
  return /^y(es)?$/i.test(await ask(question));
}

/**
 * A secret (a token): asked on stderr and typed without echo on a terminal; read from stdin when
 * piped (its first line). Never echoed, logged or kept beyond the returned string.
 */
export async function readSecret(question: string, signal?: AbortSignal): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) return firstLine(await readAll(input));
  process.stderr.write(question);
  return new Promise<string>((resolve, reject) => {
    let typed = '';
    const finish = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      signal?.removeEventListener('abort', onAbort);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onAbort = () => finish(new SandboxError('cancelled', 'Cancelled; nothing was saved.'));
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003' || char === '\u0004') return finish(new SandboxError('cancelled', 'Cancelled; nothing was saved.'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else if (char >= ' ') typed += char;
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

function firstLine(text: string): string {
  return text.split(/\r?\n/).find((line) => line.trim() !== '') ?? '';
}
