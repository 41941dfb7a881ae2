import { z } from 'zod';
import * as actions from './actions/sandboxes';
import { defineTool, type AnyTool } from './registry';

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
  run: actions.createSandbox,
});

export const sandboxList = defineTool({
  name: 'sandbox_list',
  title: 'List sandboxes',
  description: 'Every sandbox of this state dir, with its state, provider and profile.',
  input: {},
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  run: actions.listSandboxes,
});

export const sandboxStatus = defineTool({
  name: 'sandbox_status',
  title: 'Sandbox status',
  description: 'One sandbox as it is now (asked of its provider).',
  input: { sandbox: sandboxArgument },
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  run: actions.sandboxStatus,
});

export const sandboxStart = defineTool({
  name: 'sandbox_start',
  title: 'Start a sandbox',
  description: 'Starts a stopped sandbox; its files are as they were.',
  input: { sandbox: sandboxArgument },
  hints: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  run: actions.startSandbox,
});

export const sandboxStop = defineTool({
  name: 'sandbox_stop',
  title: 'Stop a sandbox',
  description: 'Stops a sandbox: its processes end, its files stay for a later start.',
  input: { sandbox: sandboxArgument },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  run: actions.stopSandbox,
});

export const sandboxDelete = defineTool({
  name: 'sandbox_delete',
  title: 'Delete a sandbox',
  description: 'Removes a sandbox and everything in it, for good. Pull what you need first (sync_pull).',
  input: { sandbox: sandboxArgument },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  run: actions.deleteSandbox,
});

export { sandboxArgument };

export const SANDBOX_TOOLS: AnyTool[] = [sandboxCreate, sandboxList, sandboxStatus, sandboxStart, sandboxStop, sandboxDelete];
