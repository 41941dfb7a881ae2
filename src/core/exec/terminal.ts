import { landingCommand } from '../hosts/directory';
import type { SandboxRecord } from '../model';
import { shellQuote } from '../util/shellQuote';

export type { TtySession, TtySize } from '../transport/dockerTty';

/** A login shell: bash where the machine has it, sh otherwise. */
const LOGIN_SHELL = 'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi';

/**
 * The remote command of a sandbox's terminal over SSH. A folder on an SSH host shares the host
 * user's login, so its terminal lands as `sandbox ssh` does: in its folder, with its marker and
 * under its limits. A sandbox with an sshd of its own (a container) starts in its workspace,
 * with the UTF-8 locale its image sets for engine execs (sshd does not pass the image's ENV on).
 */
export function sshTerminalCommand(record: Pick<SandboxRecord, 'workdir' | 'ssh'>): string {
  const run = record.ssh?.run;
  if (run) return landingCommand(run);
  return `cd ${shellQuote(record.workdir)} || exit 255; [ -n "\${LANG:-}" ] || export LANG=C.UTF-8; ${LOGIN_SHELL}`;
}
