import { SandboxError } from '../errors';
import type { Provider } from './provider';

const SAID_CHARS = 200;

/**
 * Why a create failed when its machine is no longer running: it exited as it started (an image
 * whose init fails, say). Undefined while the machine runs, so the caller keeps its own error.
 * The machine's last words are its own output: hostile, so control characters are dropped and
 * the length capped.
 */
export async function startFailure(provider: Provider, ref: string, name: string, image: string): Promise<SandboxError | undefined> {
  const machine = await provider.inspect(ref).catch(() => undefined);
  if (machine?.state === 'running') return undefined;
  let said = '';
  try {
    for await (const line of provider.logs(ref, { tail: 20 })) {
      const text = line.text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim();
      if (text) said = text;
    }
  } catch {
    // no output to quote
  }
  if (said.length > SAID_CHARS) said = `${said.slice(0, SAID_CHARS)}...`;
  const what = machine ? 'exited as it started' : 'vanished as it started';
  return new SandboxError(
    'provider-error',
    `The sandbox ${name} could not start: its machine ${what}${said ? `, last saying "${said}"` : ''}, so nothing was kept; check the image ${image || 'it runs'} (\`sandbox image build\` makes the sandbox image).`,
  );
}
