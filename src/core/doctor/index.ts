/**
 * `sandbox doctor`: checks of everything sandboxes need on this machine, each with what was
 * found and the fix. One file per group of checks; a new group (the cloud token, the budget)
 * is one more entry in CHECK_GROUPS.
 */
import * as os from 'node:os';
import type { SandboxController } from '../controller';
import { describeError } from '../errors';
import { HostConnections } from '../providers/sshHost/hostConnections';
import { defaultUserSshConfig } from '../ssh/userConfig';
import { engineChecks } from './engine';
import { hostChecks } from './hosts';
import { machineChecks } from './machine';
import { sshChecks } from './ssh';
import { stateDirChecks } from './stateDir';
import { fail, type CheckGroup, type DoctorContext, type DoctorReport } from './types';

export type { CheckResult, CheckStatus, DoctorContext, DoctorReport } from './types';

/** The groups, in the order the report shows them. */
export const CHECK_GROUPS: Array<{ id: string; title: string; run: CheckGroup }> = [
  { id: 'machine', title: 'This machine', run: machineChecks },
  { id: 'engine', title: 'Docker engine', run: engineChecks },
  { id: 'state-dir', title: 'State dir', run: stateDirChecks },
  { id: 'ssh', title: 'SSH and VS Code', run: sshChecks },
  { id: 'hosts', title: 'SSH hosts', run: hostChecks },
];

/** A doctor's wait for one host: one attempt, a few seconds, so a dead host does not hold up the report. */
const HOST_SESSION = { connectAttempts: 1, readyTimeoutMs: 5000 };

/** Runs every check; a check that breaks is reported as a failed line, never thrown. */
export async function runDoctor(context: DoctorContext): Promise<DoctorReport> {
  const groups = await Promise.all(
    CHECK_GROUPS.map(async (group) => {
      try {
        return await group.run(context);
      } catch (error) {
        return [
          fail(
            group.id,
            group.title,
            `The check itself failed: ${describeError(error)}`,
            'Run the doctor again; if it fails the same way, report it with this line.',
          ),
        ];
      }
    }),
  );
  const checks = groups.flat();
  return { ok: checks.every((check) => check.ok), checks };
}

/** The context for a controller's engine, state dir and hosts; a front end adds what it knows better. */
export function doctorContext(controller: SandboxController, options: Pick<DoctorContext, 'runtime' | 'cli'> & Partial<DoctorContext>): DoctorContext {
  return {
    docker: controller.docker.docker,
    stateDir: controller.store.root,
    sshConfigFile: controller.store.sshConfigPath,
    userSshConfig: defaultUserSshConfig(),
    homeDir: os.homedir(),
    hosts: () => controller.sshHosts.hosts.list(),
    reachHost: async (host) => {
      const connections = new HostConnections(HOST_SESSION);
      try {
        await connections.session(host).connection(options.signal);
      } finally {
        connections.dispose();
      }
    },
    ...options,
  };
}
