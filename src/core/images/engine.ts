/** Small pieces of talking to a Docker engine that the image code shares. */
import type Dockerode from 'dockerode';
import { SandboxError, cancelledError, describeError } from '../errors';

/** One JSON object of the progress streams of build, pull and import. */
export interface EngineMessage {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: { ID?: string };
}

/** Where the engine is expected, for messages. */
export function engineEndpoint(docker: Dockerode): string {
  const modem = docker.modem as { socketPath?: unknown; host?: string; port?: number | string };
  if (typeof modem.socketPath === 'string') return modem.socketPath;
  if (modem.host) return `${modem.host}${modem.port ? `:${modem.port}` : ''}`;
  return 'the default socket';
}

export function statusCode(error: unknown): number | undefined {
  return (error as { statusCode?: number } | undefined)?.statusCode;
}

export function isAbortError(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name;
  const code = (error as { code?: string } | undefined)?.code;
  return name === 'AbortError' || code === 'ABORT_ERR';
}

/** The engine's own words from an error of dockerode, without the HTTP wrapping. */
export function engineMessage(error: unknown): string {
  const json = (error as { json?: unknown } | undefined)?.json;
  let message: string | undefined;
  if (json && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string') {
    message = (json as { message: string }).message;
  } else if (typeof json === 'string' && json.trim() !== '') {
    message = json;
  }
  message ??= describeError(error);
  return message.replace(/^\(HTTP code \d+\)\s*[\w ]*-\s*/, '').trim().replace(/\.$/, '');
}

/** Turns an error from the engine into a SandboxError a user can act on. */
export function engineError(docker: Dockerode, error: unknown, action: string, signal?: AbortSignal): SandboxError {
  if (error instanceof SandboxError) return error;
  if (signal?.aborted || isAbortError(error)) return new SandboxError('cancelled', `Cancelled while trying to ${action}.`);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH') {
    return new SandboxError(
      'engine-unavailable',
      `The Docker engine at ${engineEndpoint(docker)} does not answer (${describeError(error)}); start it (for example \`sudo systemctl start docker\`) or set DOCKER_HOST.`,
      { cause: error },
    );
  }
  if (code === 'EACCES') {
    return new SandboxError(
      'engine-unavailable',
      `This user may not use the Docker engine at ${engineEndpoint(docker)}; add it to the docker group or set DOCKER_HOST.`,
      { cause: error },
    );
  }
  return new SandboxError('provider-error', `The Docker engine could not ${action}: ${engineMessage(error)}.`, { cause: error });
}

/** Inspects an image; undefined when the engine does not have it. */
export async function inspectImage(
  docker: Dockerode,
  ref: string,
  signal?: AbortSignal,
): Promise<Dockerode.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(ref).inspect({ abortSignal: signal } as Dockerode.ImageInspectOptions);
  } catch (error) {
    if (statusCode(error) === 404) return undefined;
    throw engineError(docker, error, `look for the image ${ref}`, signal);
  }
}

/**
 * Reads a stream of JSON objects, one a line, until it ends. Lines that are not JSON are
 * handed on as `stream` text. When the signal fires, the stream is destroyed (which closes
 * the connection, and the engine stops the work) and this rejects with 'cancelled'.
 */
export async function followJsonStream(
  stream: NodeJS.ReadableStream,
  onMessage: (message: EngineMessage) => void,
  signal: AbortSignal | undefined,
  what: string,
): Promise<void> {
  const destroy = () => (stream as NodeJS.ReadableStream & { destroy?: (error?: Error) => void }).destroy?.();
  if (signal?.aborted) {
    destroy();
    throw cancelledError(what);
  }
  signal?.addEventListener('abort', destroy, { once: true });
  let pending = '';
  const handle = (line: string) => {
    if (line.trim() === '') return;
    let message: EngineMessage;
    try {
      message = JSON.parse(line) as EngineMessage;
    } catch {
      message = { stream: `${line}\n` };
    }
    onMessage(message);
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      pending += chunk.toString();
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        handle(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    }
    handle(pending);
  } catch (error) {
    if (signal?.aborted) throw cancelledError(what);
    throw error;
  } finally {
    signal?.removeEventListener('abort', destroy);
  }
  if (signal?.aborted) throw cancelledError(what);
}
