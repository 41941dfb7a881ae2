import type { SandboxRecord } from '../core/model';
import type { ToolContext } from './toolKit';

/**
 * What a client is told of a sandbox: no SSH endpoint (its key file), no provider handles
 * beyond the id, nothing a token or key could hide in.
 */
export function sandboxView(record: SandboxRecord): Record<string, unknown> {
  const { profile } = record;
  return {
    id: record.id,
    name: record.name,
    state: record.state,
    ...(record.problem ? { problem: record.problem } : {}),
    provider: record.provider,
    ...(record.placement ? { host: record.placement.host } : {}),
    agentId: record.agentId,
    user: record.user,
    workdir: record.workdir,
    profile: {
      cpus: profile.cpus,
      memoryBytes: profile.memory,
      sudo: profile.sudo,
      ...(profile.desktop ? { desktop: profile.desktop } : {}),
      network: profile.network ?? 'default',
    },
    createdAt: record.createdAt,
    ...(record.startedAt ? { startedAt: record.startedAt } : {}),
    ...(record.stoppedAt ? { stoppedAt: record.stoppedAt } : {}),
    ...(record.cloud ? { cloud: { region: record.cloud.region, size: record.cloud.size, usdPerHour: record.cloud.usdPerHour } } : {}),
  };
}

/** The sandbox a call names (id, name or unique prefix), among this state dir's only, noted for the journal. */
export async function sandboxOf(ref: string, context: ToolContext): Promise<SandboxRecord> {
  const record = await context.controller.resolve(ref);
  context.actsOn(record.id);
  return record;
}
