/** The provider's own SSH connections to its droplets (for calls made to it directly), one per droplet, kept until it stops or goes. */
import { SshSession, targetFor } from '../../ssh/session';
import type { StateStore } from '../../store/stateStore';
import type { ProviderSandbox } from '../provider';

export class DropletSessions {
  private readonly sessions = new Map<string, SshSession>();

  constructor(private readonly store: StateStore) {}

  /** The connection to a running droplet (`sandbox.ssh` set), opened on first use. */
  of(ref: string, sandbox: ProviderSandbox & { ssh: NonNullable<ProviderSandbox['ssh']> }): SshSession {
    let session = this.sessions.get(ref);
    if (!session) {
      const { ssh: endpoint, id, name } = sandbox;
      session = new SshSession(async () => targetFor(name, endpoint, { privateKey: (await this.store.clientKey(id)).privateKey }));
      this.sessions.set(ref, session);
    }
    return session;
  }

  close(ref: string): void {
    this.sessions.get(ref)?.close();
    this.sessions.delete(ref);
  }

  dispose(): void {
    for (const session of this.sessions.values()) session.close();
    this.sessions.clear();
  }
}
