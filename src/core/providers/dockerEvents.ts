import type Dockerode from 'dockerode';
import { describeError } from '../errors';
import { LABELS } from '../labels';

/** Container actions that change what a sandbox list shows; exec and attach noise is left out. */
const WATCHED_ACTIONS = ['create', 'start', 'restart', 'stop', 'die', 'kill', 'destroy', 'pause', 'unpause', 'oom', 'rename'];
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 15000;

export interface SandboxEngineEvent {
  /** Our sandbox id (from the container's labels), when the event carries it. */
  sandboxId?: string;
  containerId: string;
  action: string;
  /** Milliseconds since the epoch. */
  time: number;
}

export interface EngineEventHandlers {
  onEvent(event: SandboxEngineEvent): void;
  /** The stream is open: the engine answers (called again after every reconnect). */
  onConnected?(): void;
  /** The stream failed or ended; a reconnect follows after `retryInMs`. */
  onDisconnected?(reason: string, retryInMs: number): void;
}

/**
 * Follows the Docker engine's event stream for the containers of one owner, so a view can
 * update the moment something changes (from this process, the CLI, or `docker rm`) without
 * polling. When the engine goes away the stream is opened again with a growing delay; the
 * returned function (or the signal) ends it for good.
 */
export function watchSandboxEvents(docker: Dockerode, ownerId: string, handlers: EngineEventHandlers, signal?: AbortSignal): () => void {
  return watchContainerEvents(docker, { label: [`${LABELS.owner}=${ownerId}`] }, handlers, signal);
}

/** The same, for the containers an engine filter picks (`{ container: [id] }`: one container). */
export function watchContainerEvents(docker: Dockerode, filters: Record<string, string[]>, handlers: EngineEventHandlers, signal?: AbortSignal): () => void {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  let retryMs = RETRY_FIRST_MS;
  let timer: NodeJS.Timeout | undefined;

  const connect = async () => {
    if (stop.signal.aborted) return;
    let reason = 'the event stream ended';
    try {
      const stream = (await docker.getEvents({
        filters: { ...filters, type: ['container'], event: WATCHED_ACTIONS },
        abortSignal: stop.signal,
      } as Dockerode.GetEventsOptions)) as NodeJS.ReadableStream & { destroy?: () => void };
      if (stop.signal.aborted) {
        stream.destroy?.();
        return;
      }
      retryMs = RETRY_FIRST_MS;
      handlers.onConnected?.();
      const closeOnAbort = () => stream.destroy?.();
      stop.signal.addEventListener('abort', closeOnAbort, { once: true });
      try {
        let pending = '';
        for await (const chunk of stream as AsyncIterable<Buffer | string>) {
          pending += chunk.toString();
          let newline: number;
          while ((newline = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, newline).trim();
            pending = pending.slice(newline + 1);
            const event = line ? parseEvent(line) : undefined;
            if (event) handlers.onEvent(event);
          }
        }
      } finally {
        stop.signal.removeEventListener('abort', closeOnAbort);
      }
    } catch (error) {
      reason = describeError(error);
    }
    if (stop.signal.aborted) return;
    const wait = retryMs;
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    handlers.onDisconnected?.(reason, wait);
    timer = setTimeout(() => void connect(), wait);
  };
  void connect();

  return () => {
    signal?.removeEventListener('abort', onAbort);
    if (timer) clearTimeout(timer);
    stop.abort();
  };
}

/** One line of the engine's event stream, or undefined when it is not a container event. */
export function parseEvent(line: string): SandboxEngineEvent | undefined {
  let raw: {
    Type?: string;
    Action?: string;
    status?: string;
    id?: string;
    Actor?: { ID?: string; Attributes?: Record<string, string> };
    time?: number;
    timeNano?: number;
  };
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (raw.Type !== undefined && raw.Type !== 'container') return undefined;
  const containerId = raw.Actor?.ID ?? raw.id;
  const action = raw.Action ?? raw.status;
  if (!containerId || !action) return undefined;
  const time = raw.timeNano ? Math.floor(raw.timeNano / 1e6) : (raw.time ?? 0) * 1000;
  return { containerId, action, time, sandboxId: raw.Actor?.Attributes?.[LABELS.id] };
}
