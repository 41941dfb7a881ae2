import { isSandboxError } from '../errors';
import type { SandboxRecord } from '../model';
import type { LogLine } from '../providers/provider';
import type { ProviderSet } from '../providers/registry';
import { endWith, mapAsync, mergeAsync } from './asyncIterators';
import { sandboxEndError, sandboxEnded, whenSandboxEnds, type SandboxEnd, type SandboxLookout } from './sandboxEnd';
import type { LogEntry, SandboxLogOptions } from './types';

export interface SandboxLogsDeps {
  providers: ProviderSet;
  /** The store and providers, to tell when a followed sandbox ends. */
  lookout: SandboxLookout;
  resolve(ref: string): Promise<SandboxRecord>;
}

/** get_logs: the sandbox's own output and its journal, in time order; `follow` keeps going until the signal aborts. */
export async function* sandboxLogs(deps: SandboxLogsDeps, ref: string, options: SandboxLogOptions = {}): AsyncGenerator<LogEntry> {
  const { store } = deps.lookout;
  const record = await deps.resolve(ref);
  const provider = deps.providers.get(record.provider);
  const journal = (await store.readJournal(record.id)).map((entry): LogEntry => ({ time: entry.time, source: 'journal', entry }));
  const ownLines: LogEntry[] = [];
  let machineRef = record.providerRef;
  try {
    if (record.providerRef) {
      for await (const line of provider.logs(record.providerRef, { tail: options.tail })) ownLines.push(sandboxLine(line));
    }
  } catch (error) {
    // A lost machine has no output left, but its journal still tells its history.
    if (!isSandboxError(error, 'not-found')) throw error;
    machineRef = undefined;
  }
  let history = [...journal, ...ownLines].sort((a, b) => a.time.localeCompare(b.time));
  if (options.tail !== undefined) history = options.tail === 0 ? [] : history.slice(-options.tail);
  yield* history;
  if (!options.follow) return;

  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) return;
  const live = mergeAsync<LogEntry>([
    mapAsync(store.followJournal(record.id, stop.signal), (entry) => ({ time: entry.time, source: 'journal', entry })),
    machineRef
      ? // The engine ends this stream when the sandbox stops or goes: following ends with it.
        endWith(mapAsync(provider.logs(machineRef, { follow: true, tail: 0, signal: stop.signal }), sandboxLine), () => stop.abort())
      : (async function* () {})(),
  ]);
  // Following ends when the sandbox stops or goes, also where the provider's stream would not end.
  let ended: SandboxEnd | undefined;
  void whenSandboxEnds(deps.lookout, record, stop.signal).then((end) => {
    ended = end;
    if (end) stop.abort();
  });
  try {
    yield* live;
  } finally {
    stop.abort();
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (options.signal?.aborted) return;
  const end = ended ?? (await sandboxEnded(deps.lookout, record));
  if (end?.removed) throw sandboxEndError(end, 'its logs end here');
}

function sandboxLine(line: LogLine): LogEntry {
  return { time: line.time, source: 'sandbox', stream: line.stream, text: line.text };
}
