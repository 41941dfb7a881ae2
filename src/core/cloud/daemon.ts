/**
 * Cloud sandboxes need the daemon: it ends them at their time-to-live, fires the budget alerts and
 * notices machines that went away. A cloud create starts it; `sandbox list` warns when it is missing.
 */
import type { SandboxRecord } from '../model';
import { daemonStatus, startDaemonProcess, type DaemonStatus } from '../tasks/daemonLock';
import { isCloudKind } from './kinds';

export interface DaemonForCloud {
  /** True when this call started it; false when one already ran. */
  started: boolean;
  status: DaemonStatus;
}

/** Starts the state dir's daemon unless one runs; `script` is the CLI's entry (dist/cli.js), which runs `daemon run`. */
export async function ensureDaemonForCloud(stateRoot: string, script: string, start: typeof startDaemonProcess = startDaemonProcess): Promise<DaemonForCloud> {
  const before = daemonStatus(stateRoot);
  if (before.running) return { started: false, status: before };
  return { started: true, status: await start({ stateRoot, script }) };
}

/** The cloud sandboxes that may cost money now (any state but lost). */
export function billableCloudSandboxes(records: readonly SandboxRecord[]): SandboxRecord[] {
  return records.filter((record) => isCloudKind(record.provider) && record.state !== 'lost');
}

/** One sentence for stderr when cloud sandboxes exist and no daemon enforces their time-to-live; undefined when all is well. */
export function missingDaemonWarning(records: readonly SandboxRecord[], status: DaemonStatus): string | undefined {
  const cloud = billableCloudSandboxes(records);
  if (cloud.length === 0 || status.running) return undefined;
  const count = cloud.length === 1 ? '1 cloud sandbox exists' : `${cloud.length} cloud sandboxes exist`;
  return `${count} and no daemon runs, so time-to-live and budget are not enforced; start it with \`sandbox daemon start\`.`;
}
