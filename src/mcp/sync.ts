import { z } from 'zod';
import type { SyncSummary } from '../core/controller';
import { defineTool, jsonResult, type AnyTool } from './registry';
import { confinedPath } from './roots';
import { sandboxArgument } from './sandboxes';
import { sandboxOf } from './views';

function summaryView(summary: SyncSummary): Record<string, unknown> {
  return {
    direction: summary.direction,
    local: summary.local,
    remote: summary.remote,
    files: summary.files,
    bytes: summary.bytes,
    deleted: summary.deleted,
    ...(summary.unchanged !== undefined ? { unchanged: summary.unchanged } : {}),
    ...(summary.skippedLinks?.length ? { skippedLinks: summary.skippedLinks } : {}),
    ...(summary.replacedLinks?.length ? { replacedLinks: summary.replacedLinks } : {}),
  };
}

const localArgument = z.string().min(1).describe("A host folder inside the folders open to this server (the client's roots).");
const remoteArgument = z.string().min(1).optional().describe('A folder in the sandbox (default: its workspace).');

export const syncPush = defineTool({
  name: 'sync_push',
  title: 'Copy a host folder into a sandbox',
  description: 'Copies a host folder (inside the open roots; .gitignore applies) into a sandbox folder, sending only what changed since the last push.',
  input: {
    sandbox: sandboxArgument,
    local: localArgument,
    remote: remoteArgument,
    delete: z.boolean().optional().describe('Also delete sandbox files the host folder no longer has.'),
  },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  async run(args, context) {
    const record = await sandboxOf(args.sandbox, context);
    const localRoot = await confinedPath(args.local, context.roots, 'local folder');
    let step = 0;
    const summary = await context.controller.push(record.id, {
      localRoot,
      remoteDir: args.remote,
      deleteExtraneous: args.delete ?? false,
      signal: context.signal,
      onProgress: (progress) => context.progress(++step, `${progress.phase} ${progress.done}/${progress.total}`),
    });
    return jsonResult(summaryView(summary));
  },
});

export const syncPull = defineTool({
  name: 'sync_pull',
  title: 'Copy a sandbox folder to the host',
  description: "Copies a sandbox folder into a host folder (inside the open roots); the sandbox's links that lead outside the folder are not written.",
  input: { sandbox: sandboxArgument, local: localArgument, remote: remoteArgument },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  async run(args, context) {
    const record = await sandboxOf(args.sandbox, context);
    const localRoot = await confinedPath(args.local, context.roots, 'local folder');
    const summary = await context.controller.pull(record.id, {
      localRoot,
      remoteDir: args.remote,
      signal: context.signal,
      onProgress: (progress) => context.progress(progress.files, `${progress.files} files, ${progress.bytes} bytes`),
    });
    return jsonResult(summaryView(summary));
  },
});

export const forwardTool = defineTool({
  name: 'forward',
  title: 'Forward a port',
  description: "Opens a sandbox's port (on its own 127.0.0.1) on this machine's 127.0.0.1, for as long as the server runs; returns the local URL.",
  input: { sandbox: sandboxArgument, port: z.number().int().min(1).max(65535).describe('The port in the sandbox.') },
  hints: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  async run(args, context) {
    const record = await sandboxOf(args.sandbox, context);
    const existing = context.controller.forwards(record.id).find((forward) => forward.remotePort === args.port);
    const opened = existing ?? (await context.controller.forward(record.id, args.port));
    return jsonResult({ sandbox: opened.sandboxName, remotePort: opened.remotePort, localPort: opened.localPort, url: opened.url });
  },
});

export const SYNC_TOOLS: AnyTool[] = [syncPush, syncPull, forwardTool];
