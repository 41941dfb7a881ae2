import { SandboxError } from '../errors';
import type { SandboxRecord } from '../model';
import { assertUsable } from '../sandboxState';
import { PortForward } from '../ssh/forward';
import type { SshSession } from '../ssh/session';

/** The ports this process forwards into sandboxes, so they close with their sandbox or with the process. */
export class PortForwards {
  private readonly open = new Set<PortForward>();

  constructor(
    private readonly deps: {
      resolve(ref: string): Promise<SandboxRecord>;
      session(record: SandboxRecord): Promise<SshSession>;
    },
  ) {}

  /** Opens 127.0.0.1:<localPort> here, carried over SSH to 127.0.0.1:<remotePort> in the sandbox. */
  async forward(ref: string, remotePort: number, options: { localPort?: number } = {}): Promise<PortForward> {
    for (const port of [remotePort, ...(options.localPort !== undefined ? [options.localPort] : [])]) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new SandboxError('invalid-input', `${port} is not a port; give a number from 1 to 65535.`);
      }
    }
    const record = await this.deps.resolve(ref);
    assertUsable(record, false);
    const session = await this.deps.session(record);
    await session.connection(); // fail now, not on the first browser request
    const forward = await PortForward.open(session, { sandboxId: record.id, sandboxName: record.name, remotePort, localPort: options.localPort });
    this.open.add(forward);
    forward.once('close', () => this.open.delete(forward));
    return forward;
  }

  /** Forwarded ports of this process, of one sandbox or all. */
  list(sandboxId?: string): PortForward[] {
    return [...this.open].filter((forward) => sandboxId === undefined || forward.sandboxId === sandboxId);
  }

  /** Closes the forwards of one sandbox, or all of them. */
  close(sandboxId?: string): void {
    for (const forward of this.list(sandboxId)) forward.close();
  }
}
