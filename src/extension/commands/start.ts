import { isStopped, type Cockpit } from '../cockpit';
import { runLifecycle } from './lifecycle';

/** Start: starts stopped sandboxes; files kept while stopped are all there. */
export function startCommand(cockpit: Cockpit) {
  return (arg?: unknown, selected?: unknown) =>
    runLifecycle(cockpit, { arg, selected }, { title: 'Starting', placeHolder: 'Sandbox to start', filter: isStopped }, (record, signal) =>
      cockpit.controller.start(record.id, signal),
    );
}
