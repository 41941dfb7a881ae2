import { z } from 'zod';
import type { Profile } from '../core/model';
import { parseGeometry, parseSize, DEFAULT_DESKTOP_GEOMETRY } from '../core/profile';
import { findProfile, readTasksConfig } from '../core/tasks/config';
import { defineTool, jsonResult, type AnyTool } from './registry';
import { confinedPath } from './roots';
import { sandboxOf, sandboxView } from './views';

const sandboxArgument = z.string().min(1).describe('The sandbox: its name, id, or a unique prefix of either.');

export const sandboxCreate = defineTool({
  name: 'sandbox_create',
  title: 'Create a sandbox',
  description:
    'Makes a sandbox (an isolated machine), starts it, and optionally copies a host folder (inside the open roots) into its workspace. Returns the sandbox.',
  input: {
    name: z.string().min(1).max(63).optional().describe('Its name; one is made up when left out.'),
    profile: z.string().min(1).optional().describe('A named profile of the state dir (default, desktop, or one of tasks.json): its limits, provider and host.'),
    provider: z.enum(['docker', 'ssh', 'digitalocean']).optional().describe("Where it runs (default: the profile's, else docker)."),
    host: z.string().min(1).optional().describe('For the ssh provider: the registered host (`sandbox host add`).'),
    workspace: z.string().min(1).optional().describe("A host folder to copy into the sandbox's workspace; it must be inside the open roots."),
    cpus: z.number().positive().optional(),
    memory: z.string().optional().describe('Memory, like 2g.'),
    sudo: z.boolean().optional().describe('Whether the agent user gets sudo (default true).'),
    desktop: z
      .union([z.boolean(), z.string().regex(/^\d+x\d+$/)])
      .optional()
      .describe('A desktop (true, or its size like 1280x800).'),
    network: z.string().optional().describe('default, open, none, or allow:DOMAIN,...'),
  },
  hints: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  async run(args, context) {
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
  },
});

export const sandboxList = defineTool({
  name: 'sandbox_list',
  title: 'List sandboxes',
  description: 'Every sandbox of this state dir, with its state, provider and profile.',
  input: {},
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  async run(_args, context) {
    return jsonResult((await context.controller.list()).map(sandboxView));
  },
});

export const sandboxStatus = defineTool({
  name: 'sandbox_status',
  title: 'Sandbox status',
  description: 'One sandbox as it is now (asked of its provider).',
  input: { sandbox: sandboxArgument },
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  async run(args, context) {
    const record = await sandboxOf(args.sandbox, context);
    return jsonResult(sandboxView(await context.controller.status(record.id)));
  },
});

export const sandboxStart = defineTool({
  name: 'sandbox_start',
  title: 'Start a sandbox',
  description: 'Starts a stopped sandbox; its files are as they were.',
  input: { sandbox: sandboxArgument },
  hints: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  async run(args, context) {
    const record = await sandboxOf(args.sandbox, context);
    return jsonResult(sandboxView(await context.controller.start(record.id, context.signal)));
  },
});

export const sandboxStop = defineTool({
  name: 'sandbox_stop',
  title: 'Stop a sandbox',
  description: 'Stops a sandbox: its processes end, its files stay for a later start.',
  input: { sandbox: sandboxArgument },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  async run(args, context) {
    const record = await sandboxOf(args.sandbox, context);
    return jsonResult(sandboxView(await context.controller.stop(record.id, context.signal)));
  },
});

export const sandboxDelete = defineTool({
  name: 'sandbox_delete',
  title: 'Delete a sandbox',
  description: 'Removes a sandbox and everything in it, for good. Pull what you need first (sync_pull).',
  input: { sandbox: sandboxArgument },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  async run(args, context) {
    const record = await sandboxOf(args.sandbox, context);
    const deleted = await context.controller.delete(record.id, context.signal);
    return jsonResult({ deleted: true, id: deleted.id, name: deleted.name });
  },
});

export { sandboxArgument };

export const SANDBOX_TOOLS: AnyTool[] = [sandboxCreate, sandboxList, sandboxStatus, sandboxStart, sandboxStop, sandboxDelete];
