import { readFile } from 'node:fs/promises';
import type { SandboxRecord, SshEndpoint } from '../model';
import { closeMasters, departedAliases, ensureControlDir } from '../ssh/multiplexing';
import { hostKeyAlias, jumpAlias, renderKnownHosts, renderSshConfig, sshAlias, type SshHostEntry } from '../ssh/config';
import { writeFileAtomic } from '../store/files';
import type { StateStore } from '../store/stateStore';

/** Our OpenSSH config and known_hosts in the state dir, for `ssh`, Remote-SSH and the user's own tools. */
export class SshConfigWriter {
  constructor(private readonly store: StateStore) {}

  /**
   * Rewrites our SSH config and known_hosts when the set of reachable sandboxes (or a port)
   * changed: one block per sandbox with an SSH endpoint.
   */
  async refresh(records?: SandboxRecord[]): Promise<string> {
    const all = records ?? (await this.store.listRecords());
    const entries: SshHostEntry[] = all
      .filter((record) => record.ssh && record.state === 'running')
      .map((record): SshHostEntry => {
        const endpoint = record.ssh!;
        const jump = endpoint.jump;
        return {
          alias: sshAlias(record.name),
          endpoint,
          hostKeyAlias: hostKeyAlias(record.id),
          identityFile: this.identityFileOf(endpoint, record.id),
          jump: jump && { alias: jumpAlias(jump.name), endpoint: jump, hostKeyAlias: jumpAlias(jump.name), identityFile: this.identityFileOf(jump) },
        };
      });
    const config = renderSshConfig(entries, this.store.knownHostsPath, this.store.sshControlDir);
    const knownHosts = renderKnownHosts(entries);
    const current = await readFile(this.store.sshConfigPath, 'utf8').catch(() => undefined);
    const currentHosts = await readFile(this.store.knownHostsPath, 'utf8').catch(() => undefined);
    if (current !== config || currentHosts !== knownHosts) {
      // known_hosts first: a config block never names a key that is not pinned yet.
      await writeFileAtomic(this.store.knownHostsPath, knownHosts, 0o600);
      await ensureControlDir(this.store.sshControlDir);
      await writeFileAtomic(this.store.sshConfigPath, config, 0o600);
      // After the write: an `ssh` starting now reads the new config and makes no master for what left.
      if (current !== undefined) await closeMasters(current, departedAliases(current, config), this.store.sshControlDir);
    }
    return this.store.sshConfigPath;
  }

  /** For our OpenSSH config: the user's key file, none for the agent, else the sandbox's client key. */
  private identityFileOf(endpoint: SshEndpoint, sandboxId?: string): string | undefined {
    if (endpoint.agent) return undefined;
    return endpoint.identityFile ?? this.store.clientKeyPath(sandboxId!);
  }
}
