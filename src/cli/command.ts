import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LAUNCHER_ENV } from '../app/cliLauncher';
import type { Progress, SandboxController } from '../core/controller';
import { SandboxError } from '../core/errors';
import { ProgressLine } from './output';

/** What a command runs with: the controller, the output, and the signal Ctrl-C aborts. */
export interface Context {
  json: boolean;
  controller: SandboxController;
  signal: AbortSignal;
  out: (text: string) => void;
  printJson: (value: unknown) => void;
  /** Whether the reader of stdout went away (`| head`): a cancelled command then ends quietly. */
  outputClosed: () => boolean;
}

/** One `sandbox` command: its words (the general usage is made of them) and its handler, in one module. */
export interface Command {
  name: string;
  /** Other names it answers to (`ls` for `list`). */
  aliases?: string[];
  /** Its lines in the general usage: the synopsis, then what it does. */
  usage: [synopsis: string, summary: string][];
  /** What `sandbox NAME --help` prints. */
  help: string;
  /** Returns the exit status. */
  run(args: string[], context: Context): Promise<number>;
}

/** A command with subcommands (`sandbox sync push`): each has its own module and help. */
export interface CommandGroup {
  name: string;
  usage: [synopsis: string, summary: string][];
  /** What `sandbox NAME --help` prints, before the list of subcommands. */
  help: string;
  subcommands: Command[];
  /** What the group runs when named alone (`sandbox snapshots` lists them); without it, that is a usage error showing the help. */
  defaultSubcommand?: Command;
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  return parseArgs({ args, options, allowPositionals: true, strict: true });
}

export function requireOne(positionals: string[], what: string, usage: string): string {
  if (positionals.length !== 1) throw new SandboxError('invalid-input', `Give one ${what}: ${usage}.`);
  return positionals[0]!;
}

/** Commands that take no arguments say so instead of ignoring them. */
export function noArguments(args: string[], usage: string): void {
  const { positionals } = parse(args, {});
  if (positionals.length > 0) throw new SandboxError('invalid-input', `Unexpected argument ${positionals[0]}: ${usage}.`);
}

/** A progress line on stderr for people; nothing with --json. */
export function progressReporter(context: Context): { onProgress: (p: Progress) => void; done: () => void } {
  const line = new ProgressLine();
  return {
    onProgress: (p) => (context.json ? undefined : line.update(p.message, p.fraction)),
    done: () => line.done(),
  };
}

export function isDirectory(target: string): boolean {
  return existsSync(target) && statSync(target).isDirectory();
}

/**
 * How the user called us, for hints: `sandbox` when installed (by npm, or as the extension's
 * launcher, which runs dist/cli.js and says so in the environment), `node dist/cli.js` from a clone.
 */
export function selfCommand(env: NodeJS.ProcessEnv = process.env, script: string = process.argv[1] ?? ''): string {
  if (env[LAUNCHER_ENV]) return 'sandbox';
  return path.basename(script) === 'cli.js' ? `node ${path.relative(process.cwd(), script) || script}` : 'sandbox';
}

/** Resolves when the command's signal aborts (Ctrl-C): for commands that serve until then. */
export function untilCancelled(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
