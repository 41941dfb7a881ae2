import type { Cockpit } from '../cockpit';
import { runLifecycle } from './lifecycle';

/** Restart: stop (when running) then start; processes inside end, files stay. */
export function restartCommand(cockpit: Cockpit) {
  return (arg?: unknown, selected?: unknown) =>
    runLifecycle(
      cockpit,
      { arg, selected },
      { title: 'Restarting', placeHolder: 'Sandbox to restart', filter: (record) => record.state === 'running' || record.state === 'stopped' },
      async (record, signal) => {
        if (record.state === 'running') await cockpit.controller.stop(record.id, signal);
        await cockpit.controller.start(record.id, signal);
      },
    );
}
