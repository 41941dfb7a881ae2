import { isRunning, type Cockpit } from '../cockpit';
import { runLifecycle } from './lifecycle';

/** Stop: stops running sandboxes; their files are kept. */
export function stopCommand(cockpit: Cockpit) {
  return (arg?: unknown, selected?: unknown) =>
    runLifecycle(cockpit, { arg, selected }, { title: 'Stopping', placeHolder: 'Sandbox to stop', filter: isRunning }, (record, signal) =>
      cockpit.controller.stop(record.id, signal),
    );
}
