import { reportCommandError } from '../app/errorReport';
import { EXIT } from '../app/exitStatus';
import { SandboxController } from '../core/controller';
import { SandboxError, describeError } from '../core/errors';
import { StateStore } from '../core/store/stateStore';
import { version } from '../../package.json';
import { AGENTS_GUIDE } from './agentsGuide';
import type { Command, CommandGroup, Context } from './command';
import { COMMANDS, commandNames, findCommand, groupHelp, isGroup, nearestName, usageText } from './commands';

export { EXIT } from '../app/exitStatus';

/** Runs one `sandbox` command line and returns its exit status. */
export async function main(argv: string[]): Promise<number> {
  // --json may sit anywhere before the command of `exec ... --`.
  const commandStart = argv.indexOf('--');
  const isOption = (index: number) => commandStart < 0 || index < commandStart;
  const json = argv.some((arg, index) => arg === '--json' && isOption(index));
  const args = argv.filter((arg, index) => arg !== '--json' || !isOption(index));
  const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const printJson = (value: unknown) => out(JSON.stringify(value, null, json ? 2 : 0));
  const [name, ...rest] = args;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    out(rest.length > 0 ? (helpFor(rest) ?? usageText()) : usageText());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version') {
    out(version);
    return EXIT.ok;
  }
  const found = resolveCommand(name, rest);
  if ('unknown' in found) return reportError(found.unknown, json, false);
  const { command, args: commandArgs } = found;
  const options = commandArgs.includes('--') ? commandArgs.slice(0, commandArgs.indexOf('--')) : commandArgs;
  if ('help' in found || options.includes('--help') || options.includes('-h')) {
    out('help' in found ? found.help : command.help);
    return 'help' in found ? found.status : EXIT.ok;
  }

  const abort = new AbortController();
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    if (interrupts > 1) process.exit(EXIT.cancelled); // a second Ctrl-C means now
    abort.abort();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, onInterrupt);
  // A reader that went away (`| head`) ends the command in the sandbox too, quietly.
  let outputClosed = false;
  const onOutputError = (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    outputClosed = true;
    abort.abort();
  };
  process.stdout.on('error', onOutputError);
  // A one-shot process gains nothing from a persistent channel: plain engine exec is quicker to open.
  const controller = new SandboxController({ store: new StateStore(), oneShot: true });
  const context: Context = { json, controller, signal: abort.signal, out, printJson, outputClosed: () => outputClosed };
  try {
    return await command.run(commandArgs, context);
  } catch (error) {
    if (outputClosed) return EXIT.ok;
    return reportError(error, json, abort.signal.aborted);
  } finally {
    controller.dispose();
    for (const signal of signals) process.off(signal, onInterrupt);
  }
}

type Resolved = { command: Command; args: string[] } | { command: Command; args: string[]; help: string; status: number } | { unknown: SandboxError };

/** The command a command line calls: a top-level one, or a group's subcommand. */
function resolveCommand(name: string, rest: string[]): Resolved {
  const found = findCommand(COMMANDS, name);
  if (!found) return { unknown: unknownCommand(name, commandNames(), 'sandbox') };
  if (!isGroup(found)) return { command: found, args: rest };
  const [subName, ...subArgs] = rest;
  if (subName === undefined && found.defaultSubcommand) return { command: found.defaultSubcommand, args: [] };
  if (subName === undefined || subName === '--help' || subName === '-h') {
    // Asked for, the help is an answer; a group named alone is a usage error that shows it.
    return { command: found.subcommands[0]!, args: [], help: groupHelp(found), status: subName === undefined ? EXIT.usage : EXIT.ok };
  }
  const sub = findCommand(found.subcommands, subName);
  if (!sub) return { unknown: unknownCommand(subName, commandNames(found.subcommands), `sandbox ${found.name}`) };
  return { command: sub, args: subArgs };
}

/** `sandbox help sync push`, `sandbox help host`, and the topic `sandbox help agents`. */
function helpFor(words: string[]): string | undefined {
  if (words[0] === 'agents') return AGENTS_GUIDE;
  const found = findCommand<Command | CommandGroup>(COMMANDS, words[0]!);
  if (!found) return undefined;
  if (!isGroup(found)) return found.help;
  const sub = words[1] !== undefined ? findCommand(found.subcommands, words[1]) : undefined;
  return sub ? sub.help : groupHelp(found);
}

function unknownCommand(typed: string, names: string[], prefix: string): SandboxError {
  const nearest = nearestName(typed, names);
  const guess = nearest ? ` (did you mean \`${prefix} ${nearest}\`?)` : '';
  const whose = prefix === 'sandbox' ? '' : ` of \`${prefix}\``;
  return new SandboxError('invalid-input', `No command${whose} is called "${typed}"${guess}; see \`${prefix} --help\` for the list.`);
}

function reportError(error: unknown, json: boolean, aborted: boolean): number {
  const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
  return reportCommandError(error, { json, stdout: write(process.stdout), stderr: write(process.stderr) }, aborted);
}

/** Runs the command line and sets the exit status: what dist/cli.js calls for all but a socket's exec. */
export function runCommandLine(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`sandbox: ${describeError(error)}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}

if (require.main === module) runCommandLine(process.argv.slice(2));
