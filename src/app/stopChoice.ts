import type { SandboxRecord } from '../core/model';

/** What `stop` does to a sandbox: a plain stop, or, where a stopped machine is still billed, a hibernation unless told to power off. */
export type StopWay = 'stop' | 'hibernate' | 'power-off';

export function stopWay(stopKeepsBilling: boolean, powerOff: boolean): StopWay {
  if (!stopKeepsBilling) return 'stop';
  return powerOff ? 'power-off' : 'hibernate';
}

/** The warning said before a cloud machine is powered off rather than hibernated; undefined for the other ways. */
export function stopWarning(way: StopWay, name: string): string | undefined {
  if (way !== 'power-off') return undefined;
  return `${name} is powered off but its machine is still billed by the hour; \`sandbox stop ${name}\` without --power-off hibernates it instead.`;
}

/** The line said once it is done. */
export function stopDone(way: StopWay, record: SandboxRecord): string {
  switch (way) {
    case 'hibernate':
      return `Hibernated ${record.name} (${record.id}): snapshot kept, droplet destroyed, costs only the snapshot's storage; \`sandbox start ${record.name}\` restores it.`;
    case 'power-off':
      return `Powered off ${record.name} (${record.id}); its droplet is still billed by the hour.`;
    default:
      return `Stopped ${record.name} (${record.id}).`;
  }
}
