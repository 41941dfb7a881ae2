import type Dockerode from 'dockerode';
import type { ExecRequest, ExecResult } from '../model';
import type { DockerExecDefaults } from './dockerExec';
import { ExecAgentChannel } from './execAgentChannel';
import { ChannelGoneError } from './execAgentErrors';

/**
 * The agent channels of one engine, one per container: opened on first use, replaced when
 * they die, and skipped for good in containers that cannot run the agent (no python3).
 */
export class ExecAgentChannels {
  private readonly channels = new Map<string, ExecAgentChannel>();
  private readonly withoutAgent = new Set<string>();

  constructor(private readonly docker: Dockerode) {}

  /** Whether the container turned out to have no agent (no python3): its commands take another channel. */
  lacksAgent(containerId: string): boolean {
    return this.withoutAgent.has(containerId);
  }

  /** Runs the command through the container's agent; undefined when there is none to use (run it the plain way). */
  async exec(containerId: string, request: ExecRequest, defaults: DockerExecDefaults): Promise<ExecResult | undefined> {
    for (let attempt = 0; ; attempt++) {
      if (this.withoutAgent.has(containerId)) return undefined;
      const channel = this.channelFor(containerId);
      const outcome = await channel.open();
      if (outcome === 'no-agent') this.withoutAgent.add(containerId);
      if (outcome !== 'open') return undefined;
      try {
        return await channel.run(request, defaults);
      } catch (error) {
        // Died before the command was sent (the container restarted meanwhile): one more try.
        if (error instanceof ChannelGoneError && attempt === 0) continue;
        if (error instanceof ChannelGoneError) return undefined;
        throw error;
      }
    }
  }

  private channelFor(containerId: string): ExecAgentChannel {
    const existing = this.channels.get(containerId);
    if (existing?.alive) return existing;
    const channel = new ExecAgentChannel(this.docker, containerId, () => {
      if (this.channels.get(containerId) === channel) this.channels.delete(containerId);
    });
    this.channels.set(containerId, channel);
    return channel;
  }

  /** Closes every channel; their agents end and stop what they still run. */
  close(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }
}
