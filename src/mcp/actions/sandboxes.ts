import type { Profile } from '../../core/model';
import { DEFAULT_DESKTOP_GEOMETRY, parseGeometry, parseSize } from '../../core/profile';
import { findProfile, readTasksConfig } from '../../core/tasks/config';
import { confinedPath } from '../roots';
import { jsonResult, type ToolAction } from '../toolKit';
import { sandboxOf, sandboxView } from '../views';

/** The arguments of the tools that act on one sandbox. */
export interface SandboxArgs {
  sandbox: string;
}

export interface CreateArgs {
  name?: string;
  profile?: string;
  provider?: 'docker' | 'ssh' | 'digitalocean';
  host?: string;
  workspace?: string;
  cpus?: number;
  memory?: string;
  sudo?: boolean;
  desktop?: boolean | string;
  network?: string;
}

export const createSandbox: ToolAction<CreateArgs> = async (args, context) => {
  const named = args.profile !== undefined ? findProfile(await readTasksConfig(context.controller.store.root), args.profile) : undefined;
  const desktop = args.desktop === true ? DEFAULT_DESKTOP_GEOMETRY : args.desktop === false ? undefined : args.desktop;
  if (desktop) parseGeometry(desktop);
  const profile: Partial<Profile> = {
    ...named?.profile,
    ...(args.cpus !== undefined ? { cpus: args.cpus } : {}),
    ...(args.memory !== undefined ? { memory: parseSize(args.memory, 'memory limit') } : {}),
    ...(args.sudo !== undefined ? { sudo: args.sudo } : {}),
    ...(desktop !== undefined ? { desktop } : {}),
    ...(args.network !== undefined ? { network: args.network } : {}),
  };
  const push = args.workspace !== undefined ? { localRoot: await confinedPath(args.workspace, context.roots, 'workspace') } : undefined;
  let step = 0;
  const record = await context.controller.create({
    name: args.name,
    provider: args.provider ?? named?.provider,
    host: args.host ?? named?.host,
    profile,
    push,
    agentId: 'mcp',
    buildImageIfMissing: true,
    signal: context.signal,
    onProgress: (progress) => context.progress(++step, progress.message),
  });
  context.actsOn(record.id);
  return jsonResult(sandboxView(record));
};

export const listSandboxes: ToolAction<Record<string, never>> = async (_args, context) => jsonResult((await context.controller.list()).map(sandboxView));

export const sandboxStatus: ToolAction<SandboxArgs> = async (args, context) => {
  const record = await sandboxOf(args.sandbox, context);
  return jsonResult(sandboxView(await context.controller.status(record.id)));
};

export const startSandbox: ToolAction<SandboxArgs> = async (args, context) => {
  const record = await sandboxOf(args.sandbox, context);
  return jsonResult(sandboxView(await context.controller.start(record.id, context.signal)));
};

export const stopSandbox: ToolAction<SandboxArgs> = async (args, context) => {
  const record = await sandboxOf(args.sandbox, context);
  return jsonResult(sandboxView(await context.controller.stop(record.id, context.signal)));
};

export const deleteSandbox: ToolAction<SandboxArgs> = async (args, context) => {
  const record = await sandboxOf(args.sandbox, context);
  const deleted = await context.controller.delete(record.id, context.signal);
  return jsonResult({ deleted: true, id: deleted.id, name: deleted.name });
};
