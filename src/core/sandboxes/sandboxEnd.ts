import { SandboxError } from '../errors';
import type { ProviderKind, SandboxRecord } from '../model';
import type { Provider } from '../providers/provider';
import type { StateStore } from '../store/stateStore';

/** What watching a sandbox's end needs: its record, and its provider's view of the machine (a `SandboxController` has both). */
export interface SandboxLookout {
  readonly store: StateStore;
  provider(kind: ProviderKind): Provider;
}

/** How a sandbox stopped being usable: removed (by us or outside), or stopped. */
export interface SandboxEnd {
  removed: boolean;
  sandboxId: string;
  name: string;
}

/** Between looks when the provider tells nothing by itself (an SSH host), and as a safety net when it does. */
const POLL_MS = 2000;
/**
 * A removal stops the machine before it removes it (an engine's `rm -f` kills, then deletes):
 * a machine that stopped this recently is watched a little longer before it counts as stopped.
 */
const REMOVAL_GRACE_MS = 1500;
const GRACE_STEP_MS = 100;

type Seen = 'running' | 'stopped' | 'removed' | 'unknown';

/** One look, changing nothing: our record, then the provider's machine. */
async function look(controller: SandboxLookout, sandboxId: string, fallback: SandboxRecord | undefined): Promise<{ seen: Seen; stoppedAt?: string }> {
  const record = await controller.store.readRecord(sandboxId).catch(() => fallback);
  if (!record) return { seen: 'removed' };
  const ref = record.providerRef ?? fallback?.providerRef;
  if (!ref) return { seen: 'unknown' };
  try {
    const machine = await controller.provider(record.provider).inspect(ref);
    if (!machine) return { seen: 'removed' };
    return machine.state === 'running' ? { seen: 'running' } : { seen: 'stopped', stoppedAt: machine.stoppedAt };
  } catch {
    // The engine or host did not answer: not a reason to call the sandbox gone.
    return { seen: 'unknown' };
  }
}

/** What became of a sandbox that no longer runs; undefined while it runs (or cannot be told). */
export async function sandboxEnded(controller: SandboxLookout, record: SandboxRecord, signal?: AbortSignal): Promise<SandboxEnd | undefined> {
  const end = (removed: boolean): SandboxEnd => ({ removed, sandboxId: record.id, name: record.name });
  let current = await look(controller, record.id, record);
  if (current.seen === 'removed') return end(true);
  if (current.seen !== 'stopped') return undefined;
  const stoppedAt = current.stoppedAt ? Date.parse(current.stoppedAt) : Date.now();
  const deadline = (Number.isNaN(stoppedAt) ? Date.now() : Math.min(stoppedAt, Date.now())) + REMOVAL_GRACE_MS;
  while (Date.now() < deadline && !signal?.aborted) {
    await delay(GRACE_STEP_MS, signal);
    current = await look(controller, record.id, record);
    if (current.seen === 'removed') return end(true);
    if (current.seen === 'running') return undefined;
  }
  return end(false);
}

/**
 * Resolves once the sandbox stops or is removed (by this process, the CLI, or outside), or with
 * undefined when the signal aborts first. Woken by the provider's own events where it has them
 * (the Docker engine's), and every few seconds in any case.
 */
export async function whenSandboxEnds(controller: SandboxLookout, record: SandboxRecord, signal: AbortSignal): Promise<SandboxEnd | undefined> {
  let wake: (() => void) | undefined;
  let woken: boolean;
  const onChange = () => {
    woken = true;
    wake?.();
  };
  const provider = controller.provider(record.provider);
  if (record.providerRef && provider.watch) provider.watch(record.providerRef, onChange, signal);
  signal.addEventListener('abort', onChange, { once: true });
  try {
    while (!signal.aborted) {
      woken = false;
      const end = await sandboxEnded(controller, record, signal);
      if (end && !signal.aborted) return end;
      if (signal.aborted) break;
      if (!woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, POLL_MS);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    }
    return undefined;
  } finally {
    signal.removeEventListener('abort', onChange);
  }
}

/** The error for work cut short by the sandbox's end: `consequence` says what was lost ("its logs end here"). */
export function sandboxEndError(end: SandboxEnd, consequence: string, again?: string): SandboxError {
  if (end.removed) return new SandboxError('not-found', `The sandbox ${end.name} was removed, so ${consequence}.`);
  return new SandboxError(
    'wrong-state',
    `The sandbox ${end.name} stopped, so ${consequence}; start it with \`sandbox start ${end.name}\`${again ? ` and ${again}` : ''}.`,
  );
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
