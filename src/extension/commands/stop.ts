import { stopDone, stopWay } from '../../app/stopChoice';
import { isRunning, type Cockpit } from '../cockpit';
import { runLifecycle } from './lifecycle';

/**
 * Stop: stops running sandboxes; their files are kept. A cloud sandbox, whose stopped machine is
 * still billed, is hibernated (snapshot, then destroy) as `sandbox stop` does, and says so.
 */
export function stopCommand(cockpit: Cockpit) {
  return (arg?: unknown, selected?: unknown) =>
    runLifecycle(cockpit, { arg, selected }, { title: 'Stopping', placeHolder: 'Sandbox to stop', filter: isRunning }, async (record, signal) => {
      const way = stopWay(cockpit.controller.provider(record.provider).stopKeepsBilling === true, false);
      if (way !== 'hibernate') return cockpit.controller.stop(record.id, signal);
      const hibernated = await cockpit.controller.hibernate(record.id, signal);
      cockpit.log.info(stopDone(way, hibernated));
      return hibernated;
    });
}
