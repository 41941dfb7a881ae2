/** Checks of the SSH hosts added with `sandbox host add`: each answers, with the key pinned then. */
import { describeError } from '../errors';
import { fail, pass, type CheckGroup, type CheckResult } from './types';

export const hostChecks: CheckGroup = async (context) => {
  let hosts;
  try {
    hosts = await context.hosts();
  } catch (error) {
    return [
      fail(
        'hosts',
        'SSH hosts',
        `The added hosts could not be read: ${describeError(error)}`,
        `Remove the damaged host with \`${context.cli} host rm NAME\` and add it again.`,
      ),
    ];
  }
  if (hosts.length === 0) return [pass('hosts', 'SSH hosts', `None added; \`${context.cli} host add\` adds one.`)];
  // Hosts answer at once or time out: checked side by side, the doctor waits for the slowest only.
  return Promise.all(
    hosts.map(async (host): Promise<CheckResult> => {
      const id = `host.${host.name}`;
      const title = `SSH host ${host.name}`;
      const address = `${host.user}@${host.host}:${host.port}`;
      try {
        await context.reachHost(host);
        return pass(id, title, `${address} answers with its pinned key (${host.fingerprint}).`);
      } catch (error) {
        const mismatch = (error as { code?: string }).code === 'host-key-mismatch';
        return fail(
          id,
          title,
          mismatch ? `${address} presents another key than the one pinned: ${describeError(error)}` : `Could not log in to ${address}: ${describeError(error)}`,
          mismatch
            ? `If the host was reinstalled, check its new key out of band, then \`${context.cli} host rm ${host.name}\` and add it again; otherwise do not connect.`
            : `Check that the machine is up, sshd answers there and the key logs in (\`ssh -p ${host.port} ${host.user}@${host.host}\`), or remove it with \`${context.cli} host rm ${host.name}\`.`,
        );
      }
    }),
  );
};
