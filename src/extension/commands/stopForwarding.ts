import type { PortForward } from '../../core/ssh/forward';
import type { Cockpit } from '../cockpit';
import { resolveForward } from '../targets';

/** Stop Forwarding: closes the local port and the connections it carries; the item leaves the view. */
export function stopForwardingCommand(cockpit: Cockpit) {
  return async (arg?: unknown): Promise<PortForward | undefined> => {
    const forward = await resolveForward(cockpit, arg, 'Forwarded port to stop');
    forward?.close();
    return forward;
  };
}
