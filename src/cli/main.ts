import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SandboxController, type LogEntry, type Progress } from '../core/controller';
import { DockerProvider } from '../core/providers/docker';
import { SshHostProvider } from '../core/providers/sshHost';
import { addHost, removeHost } from '../core/hosts/commands';
import { landingCommand } from '../core/hosts/directory';
import { HostRegistry, type SshHost } from '../core/hosts/registry';
import { fingerprintMatches } from '../core/hosts/scan';
import { StateStore } from '../core/store/stateStore';
import { sandboxEndError, whenSandboxEnds, type SandboxEnd } from '../core/sandboxes/sandboxEnd';
import { SandboxError, describeError, isSandboxError, type SandboxErrorCode } from '../core/errors';
import type { ExecRequest, Profile, ProviderKind, SandboxRecord } from '../core/model';
import { DEFAULT_DESKTOP_GEOMETRY, formatSize, parseGeometry, parseSize } from '../core/profile';
import { OPEN_NETWORK_WARNING, formatHostEntry, networkFromOptions, parseHostEntry } from '../core/network/policy';
import { screenshot } from '../core/desktop';
import { pullNoteLines } from '../core/sync/pullNotes';
import { serveDesktop } from '../core/desktop/server';
import { addSshInclude, defaultUserSshConfig, readSshInclude, removeSshInclude } from '../core/ssh/userConfig';
import { version } from '../../package.json';
import { parseDuration, parseEnvPairs, parseNumber, splitAtDoubleDash } from './args';
import { ProgressLine, listTable, renderTable, statusText } from './output';
import { describePush } from './pushSummary';

/** Exit statuses that mean something to scripts and agents. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  engineUnavailable: 4,
  conflict: 5,
  timeout: 124,
  cannotStart: 127,
  cancelled: 130,
  /** As OpenSSH's own client: the connection failed, dropped, or the host key did not match. */
  ssh: 255,
} as const;

const EXIT_BY_CODE: Partial<Record<SandboxErrorCode, number>> = {
  'invalid-input': EXIT.usage,
  ambiguous: EXIT.usage,
  'resource-limit': EXIT.usage,
  'not-found': EXIT.notFound,
  'engine-unavailable': EXIT.engineUnavailable,
  conflict: EXIT.conflict,
  'wrong-state': EXIT.conflict,
  cancelled: EXIT.cancelled,
  'command-failed-to-start': EXIT.cannotStart,
  'connection-failed': EXIT.ssh,
  'connection-lost': EXIT.ssh,
  'host-key-mismatch': EXIT.ssh,
};

const USAGE = `sandbox: isolated machines for agents, on the local Docker engine or your own SSH hosts

Usage:
  sandbox start [PATH]            create a sandbox (and copy PATH into it)
  sandbox start --desktop [PATH]  create a sandbox with a desktop (see sandbox desktop)
  sandbox start NAME              start a stopped sandbox
  sandbox list                    list sandboxes
  sandbox status NAME             show one sandbox
  sandbox exec NAME -- CMD...     run a command (one quoted argument runs in sh -c)
  sandbox sync push NAME [PATH]   copy a local folder in (only what changed)
  sandbox sync pull NAME [DIR]    copy a folder of the sandbox out
  sandbox logs NAME [-f]          the sandbox's output and its exec/sync history
  sandbox stop NAME...            stop sandboxes (files are kept)
  sandbox rm NAME...              delete sandboxes and everything in them
  sandbox prune                   remove sandboxes left broken by an interrupted start
  sandbox image build             build the sandbox image
  sandbox ssh NAME [-- CMD...]    log in with OpenSSH (or run CMD there)
  sandbox ssh-config [NAME]       print our SSH config; --install adds it to ~/.ssh/config
  sandbox forward NAME PORT       open PORT of the sandbox on 127.0.0.1 here, until Ctrl-C
  sandbox desktop NAME            watch (and drive) a desktop sandbox in a browser, until Ctrl-C
  sandbox screenshot NAME FILE    save a PNG of a desktop sandbox's screen
  sandbox host add NAME --host H --user U (--identity FILE | --agent)
                                  bring your own Linux machine (its host key is confirmed, then pinned)
  sandbox host list | rm NAME     the machines added; sandboxes go there with --host NAME

Options for every command: --json (machine-readable output), --help.
NAME is a sandbox's name, id, or a unique prefix of either.
State lives in ~/.agent-sandboxes (set AGENT_SANDBOXES_HOME to move it).`;

const COMMAND_HELP: Record<string, string> = {
  start: `Usage: sandbox start [PATH | NAME] [options]
  --name NAME         name of the new sandbox (default: sandbox-<id>)
  --agent ID          the agent the sandbox works for
  --cpus N            CPUs (default 2)
  --memory SIZE       memory, like 2g (default 2g)
  --pids N            process limit (default 1024)
  --disk SIZE         disk limit, where the engine supports it
  --image TAG         a sandbox image, or one built FROM it (default: the built sandbox image)
  --no-sudo           the agent user gets no sudo
  --to DIR            where PATH goes inside (default /home/agent/workspace)
  --exclude PATTERN   skip files matching PATTERN (gitignore syntax; repeatable)
  --provider KIND     docker (default) or ssh
  --host NAME         an SSH host added with \`sandbox host add\` (implies --provider ssh)
  --desktop           run a desktop in the sandbox (the desktop image; see \`sandbox desktop\`)
  --geometry WxH      the desktop's size (default 1280x800; implies --desktop)
  --network POLICY    default (the internet, not this machine or private addresses), open
                      (unfiltered), none (no network: exec only), or allow:DOMAIN,... (only those)
  --allow-domain D    allow the domain D and names under it (repeatable; makes an allowlist)
  --add-host NAME:IP  a host name for the sandbox and its allowlist (repeatable)`,
  exec: `Usage: sandbox exec NAME [options] -- CMD [ARG...]
  --cwd DIR           working directory (relative to the workspace)
  --env NAME=VALUE    environment variable (repeatable)
  --user USER         run as USER (default agent)
  --timeout DURATION  kill the command after DURATION (like 30s, 5m)
  -i, --stdin         pass this process's stdin to the command
  --max-output SIZE   output kept in --json results per stream (default 1m)
The exit status is the command's own; 124 after a timeout, 130 after Ctrl-C.`,
  sync: `Usage:
  sandbox sync push NAME [PATH] [--to DIR] [--delete] [--exclude PATTERN]... [--full]
  sandbox sync pull NAME [DIR] [--to PATH] [--max-size SIZE] [--exclude PATTERN]...
push sends what changed here or in the sandbox since the last push; --delete removes files gone locally.
pull refuses archives that would write outside PATH and leaves PATH untouched on failure;
links that lead outside DIR are not written, and are listed with local links it replaced.`,
  logs: `Usage: sandbox logs NAME [-f] [--tail N]
-f follows until Ctrl-C or until the sandbox stops (exit 0) or is removed (said, exit 3).`,
  host: `Usage:
  sandbox host add NAME --host ADDRESS [--port 22] --user USER (--identity FILE | --agent) [--fingerprint SHA256:...]
  sandbox host list
  sandbox host rm NAME [--force]
add connects without logging in, shows the host key's fingerprint and asks you to confirm it (on a
terminal); elsewhere --fingerprint must name the key the host presents. The key is then pinned:
a host presenting any other key is refused. Where Docker answers for USER there, sandboxes on the
host are containers; otherwise they are folders under ~/.agent-sandboxes/sandboxes there.
rm refuses while sandboxes live on the host; --force removes them too.`,
  image: `Usage: sandbox image build [--desktop] [--force]
--desktop builds the desktop image (XFCE, Firefox ESR, xterm, a VNC server) on top of the sandbox image.`,
  ssh: `Usage: sandbox ssh NAME [-- CMD [ARG...]]
Runs OpenSSH's ssh with our config (pinned host key, the sandbox's own client key).
The exit status is ssh's: the command's own, or 255 when the connection fails.`,
  'ssh-config': `Usage: sandbox ssh-config [NAME] [--install | --uninstall] [--file PATH]
Without options: prints the Host blocks of our SSH config (every running sandbox, or NAME's).
--install     adds one Include of our config at the top of your SSH config, so \`ssh sandbox-NAME\`
              and VS Code's Remote-SSH know every sandbox; nothing else in the file changes
--uninstall   takes that Include out again
--file PATH   your SSH config (default ~/.ssh/config)`,
  desktop: `Usage: sandbox desktop NAME [--port N] [--view-only]
Serves the desktop viewer on 127.0.0.1 behind a one-time link; the desktop itself is reached
inside the sandbox's SSH connection (no VNC port is published). Runs until Ctrl-C.`,
  screenshot: `Usage: sandbox screenshot NAME FILE.png
Saves what the desktop of a desktop sandbox (sandbox start --desktop) shows now.`,
  forward: `Usage: sandbox forward NAME PORT [--local PORT]
Listens on 127.0.0.1 (a free port, or --local) and carries each connection over SSH to PORT
on the sandbox's own 127.0.0.1. Runs until Ctrl-C, or until the sandbox stops (exit 5) or is
removed (exit 3), which it says.`,
};

interface Context {
  json: boolean;
  controller: SandboxController;
  signal: AbortSignal;
  out: (text: string) => void;
  printJson: (value: unknown) => void;
}

type Handler = (args: string[], context: Context) => Promise<number>;

export async function main(argv: string[]): Promise<number> {
  // --json may sit anywhere before the command of `exec ... --`.
  const commandStart = argv.indexOf('--');
  const isOption = (index: number) => commandStart < 0 || index < commandStart;
  const json = argv.some((arg, index) => arg === '--json' && isOption(index));
  const args = argv.filter((arg, index) => arg !== '--json' || !isOption(index));
  const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const printJson = (value: unknown) => out(JSON.stringify(value, null, json ? 2 : 0));
  const [command, ...rest] = args;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    out(rest[0] && COMMAND_HELP[rest[0]] ? COMMAND_HELP[rest[0]]! : USAGE);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === '--version') {
    out(version);
    return EXIT.ok;
  }
  const handler = HANDLERS[command];
  if (!handler) {
    process.stderr.write(`sandbox: unknown command "${command}"; run \`sandbox help\` for the list.\n`);
    return EXIT.usage;
  }
  const options = commandStart < 0 ? rest : rest.slice(0, rest.indexOf('--'));
  if (options.includes('--help') || options.includes('-h')) {
    out(COMMAND_HELP[command] ?? USAGE);
    return EXIT.ok;
  }

  const abort = new AbortController();
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    if (interrupts > 1) process.exit(EXIT.cancelled); // a second Ctrl-C means now
    abort.abort();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const name of signals) process.on(name, onInterrupt);
  // A reader that went away (`| head`) ends the command in the sandbox too, quietly.
  const onOutputError = (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    outputClosed = true;
    abort.abort();
  };
  process.stdout.on('error', onOutputError);
  // A one-shot process gains nothing from a persistent channel: plain docker exec is quicker to open.
  const store = new StateStore();
  const sshHosts = new SshHostProvider({ hosts: new HostRegistry(store.root) });
  const controller = new SandboxController({ store, providers: { docker: new DockerProvider({ execChannel: 'docker' }), ssh: sshHosts } });
  const context: Context = { json, controller, signal: abort.signal, out, printJson };
  try {
    return await handler(rest, context);
  } catch (error) {
    if (outputClosed) return EXIT.ok;
    return reportError(error, json, abort.signal.aborted);
  } finally {
    controller.dispose();
    sshHosts.dispose();
    for (const name of signals) process.off(name, onInterrupt);
  }
}

let outputClosed = false;

function reportError(error: unknown, json: boolean, aborted: boolean): number {
  const sandboxError = isSandboxError(error)
    ? error
    : aborted
      ? new SandboxError('cancelled', 'Cancelled.')
      : parseError(error);
  if (json) {
    process.stdout.write(
      JSON.stringify({ error: { code: sandboxError?.code ?? 'internal', message: sandboxError?.message ?? describeError(error) } }) + '\n',
    );
  } else {
    process.stderr.write(`sandbox: ${sandboxError?.message ?? describeError(error)}\n`);
    if (!sandboxError && process.env.SANDBOX_DEBUG) process.stderr.write(`${(error as Error)?.stack}\n`);
  }
  return sandboxError ? (EXIT_BY_CODE[sandboxError.code] ?? EXIT.failure) : EXIT.failure;
}

/** Node's argument parser speaks in paragraphs; say it in one sentence. */
function parseError(error: unknown): SandboxError | undefined {
  const code = (error as { code?: string })?.code;
  if (!code?.startsWith('ERR_PARSE_ARGS_')) return undefined;
  const message = describeError(error);
  const option = /'(-[^' ]+)/.exec(message)?.[1] ?? /"(-[^"]+)"/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    return new SandboxError('invalid-input', `Unknown option ${option ?? ''}; see \`sandbox help\` for the options.`.replace('  ', ' '));
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return new SandboxError('invalid-input', `The option ${option ?? ''} needs a value (write a negative one as --option=-1); see \`sandbox help\`.`.replace('  ', ' '));
  }
  return new SandboxError('invalid-input', `Unexpected argument ${/"([^"]+)"/.exec(message)?.[1] ?? ''}; see \`sandbox help\`.`.replace('  ', ' '));
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  return parseArgs({ args, options, allowPositionals: true, strict: true });
}

function requireOne(positionals: string[], what: string, usage: string): string {
  if (positionals.length !== 1) throw new SandboxError('invalid-input', `Give one ${what}: ${usage}.`);
  return positionals[0]!;
}

function progressReporter(context: Context): { onProgress: (p: Progress) => void; done: () => void } {
  const line = new ProgressLine();
  return {
    onProgress: (p) => (context.json ? undefined : line.update(p.message, p.fraction)),
    done: () => line.done(),
  };
}

// ---- commands ----------------------------------------------------------------------------------

const start: Handler = async (args, context) => {
  const { values, positionals } = parse(args, {
    name: { type: 'string' },
    agent: { type: 'string' },
    cpus: { type: 'string' },
    memory: { type: 'string' },
    pids: { type: 'string' },
    disk: { type: 'string' },
    image: { type: 'string' },
    'no-sudo': { type: 'boolean' },
    to: { type: 'string' },
    exclude: { type: 'string', multiple: true },
    desktop: { type: 'boolean' },
    geometry: { type: 'string' },
    provider: { type: 'string' },
    host: { type: 'string' },
    network: { type: 'string' },
    'allow-domain': { type: 'string', multiple: true },
    'add-host': { type: 'string', multiple: true },
  });
  if (positionals.length > 1) throw new SandboxError('invalid-input', 'Give at most one folder or sandbox: sandbox start [PATH | NAME].');
  const target = positionals[0];
  const { controller } = context;

  if (target !== undefined && (await startsExisting(controller, target))) {
    const creationOnly = ['name', 'agent', 'cpus', 'memory', 'pids', 'disk', 'image', 'no-sudo', 'to', 'exclude', 'desktop', 'geometry', 'provider', 'host', 'network', 'allow-domain', 'add-host'].filter(
      (option) => values[option as keyof typeof values] !== undefined,
    );
    if (creationOnly.length > 0) {
      throw new SandboxError('invalid-input', `--${creationOnly[0]} applies only when creating a sandbox, and ${target} already exists.`);
    }
    const record = await controller.start(target, context.signal);
    if (context.json) context.printJson(record);
    else context.out(`Started ${record.name} (${record.id}).`);
    return EXIT.ok;
  }
  if (target !== undefined && !isDirectory(target)) {
    throw new SandboxError('invalid-input', `The folder ${target} does not exist; give a folder to copy into a new sandbox.`);
  }

  const profile: Partial<Profile> = {
    cpus: values.cpus !== undefined ? parseNumber(values.cpus, 'CPU count') : undefined,
    memory: values.memory !== undefined ? parseSize(values.memory, 'memory limit') : undefined,
    pids: values.pids !== undefined ? parseNumber(values.pids, 'process limit') : undefined,
    disk: values.disk !== undefined ? parseSize(values.disk, 'disk limit') : undefined,
    image: values.image,
    sudo: values['no-sudo'] ? false : undefined,
    desktop: values.desktop || values.geometry !== undefined ? (values.geometry ?? DEFAULT_DESKTOP_GEOMETRY) : undefined,
    network: networkFromOptions(values.network, values['allow-domain']),
    hosts: values['add-host']?.map((entry) => formatHostEntry(parseHostEntry(entry))),
  };
  if (profile.desktop) parseGeometry(profile.desktop);
  const provider = (values.provider ?? (values.host !== undefined ? 'ssh' : 'docker')) as ProviderKind;
  if (provider !== 'docker' && provider !== 'ssh') throw new SandboxError('invalid-input', `The provider "${values.provider}" is not one of docker, ssh.`);
  const progress = progressReporter(context);
  let record: SandboxRecord;
  try {
    record = await controller.create({
      provider,
      host: values.host,
      name: values.name,
      agentId: values.agent,
      profile,
      push: target !== undefined ? { localRoot: path.resolve(target), remoteDir: values.to, excludes: values.exclude } : undefined,
      buildImageIfMissing: true,
      signal: context.signal,
      onProgress: progress.onProgress,
    });
  } finally {
    progress.done();
  }
  if (record.profile.network === 'open') process.stderr.write(`${OPEN_NETWORK_WARNING}\n`);
  if (context.json) {
    context.printJson(record);
  } else {
    context.out(`Started ${record.name} (${record.id})${target !== undefined ? `, with ${target} in ${record.workdir}` : ''}.`);
    context.out(`Run a command:  ${selfCommand()} exec ${record.name} -- python3 --version`);
  }
  return EXIT.ok;
};

/**
 * `start X` starts the sandbox X, or creates one from the folder X. Something that looks like a
 * path is a folder; otherwise an existing sandbox wins over a folder of the same name.
 */
async function startsExisting(controller: SandboxController, target: string): Promise<boolean> {
  if (target === '.' || target === '..' || target.includes('/') || target.includes(path.sep)) return false;
  try {
    await controller.resolve(target);
    return true;
  } catch (error) {
    if (isSandboxError(error, 'not-found')) return false;
    throw error;
  }
}

function isDirectory(target: string): boolean {
  return existsSync(target) && statSync(target).isDirectory();
}

/** How the user called us, for hints: `sandbox` when installed, `node dist/cli.js` from a clone. */
function selfCommand(): string {
  const script = process.argv[1] ?? '';
  return path.basename(script) === 'cli.js' ? `node ${path.relative(process.cwd(), script) || script}` : 'sandbox';
}

/** Commands that take no arguments say so instead of ignoring them. */
function noArguments(args: string[], usage: string): void {
  const { positionals } = parse(args, {});
  if (positionals.length > 0) throw new SandboxError('invalid-input', `Unexpected argument ${positionals[0]}: ${usage}.`);
}

const list: Handler = async (args, context) => {
  noArguments(args, 'sandbox list');
  const records = await context.controller.list();
  if (context.json) context.printJson(records);
  else context.out(records.length === 0 ? 'No sandboxes. Start one with `sandbox start`.' : listTable(records));
  return EXIT.ok;
};

const status: Handler = async (args, context) => {
  const { positionals } = parse(args, {});
  const record = await context.controller.status(requireOne(positionals, 'sandbox', 'sandbox status NAME'));
  if (context.json) context.printJson(record);
  else context.out(statusText(record));
  return EXIT.ok;
};

const exec: Handler = async (args, context) => {
  const { before, after } = splitAtDoubleDash(args);
  const { values, positionals } = parse(before, {
    cwd: { type: 'string' },
    env: { type: 'string', multiple: true },
    user: { type: 'string' },
    timeout: { type: 'string' },
    stdin: { type: 'boolean', short: 'i' },
    'max-output': { type: 'string' },
  });
  if (!after || after.length === 0) throw new SandboxError('invalid-input', 'Put the command after --: sandbox exec NAME -- CMD.');
  const ref = requireOne(positionals, 'sandbox', 'sandbox exec NAME -- CMD');
  const timeoutMs = values.timeout !== undefined ? parseDuration(values.timeout, 'timeout') : undefined;
  if (timeoutMs === 0) throw new SandboxError('invalid-input', 'The timeout must be more than 0; leave it out for none.');
  const request: ExecRequest = {
    command: after.length === 1 ? after[0]! : after,
    cwd: values.cwd,
    env: values.env ? parseEnvPairs(values.env) : undefined,
    user: values.user,
    timeoutMs,
    maxOutputBytes: values['max-output'] !== undefined ? parseSize(values['max-output'], 'output cap') : undefined,
    stdin: values.stdin ? process.stdin : undefined,
    signal: context.signal,
    onStdout: context.json ? undefined : (chunk) => process.stdout.write(chunk),
    onStderr: context.json ? undefined : (chunk) => process.stderr.write(chunk),
  };
  let result;
  try {
    result = await context.controller.exec(ref, request);
  } finally {
    // Whatever was not read of stdin would keep this process alive after the command ended.
    if (values.stdin) process.stdin.destroy();
  }
  if (context.json) context.printJson({ ...result, signal: result.signal ?? null });
  else if (result.timedOut) process.stderr.write(`sandbox: the command ran past its ${values.timeout} timeout and was killed.\n`);
  else if (result.cancelled && !outputClosed) process.stderr.write('sandbox: the command was cancelled and killed.\n');
  if (result.outOfMemory && !context.json) process.stderr.write(`sandbox: ${result.outOfMemory}\n`);
  if (result.timedOut) return EXIT.timeout;
  if (result.cancelled) return EXIT.cancelled;
  return result.exitCode ?? EXIT.failure;
};

const sync: Handler = async (args, context) => {
  const [direction, ...rest] = args;
  if (direction === 'push') {
    const { values, positionals } = parse(rest, {
      to: { type: 'string' },
      delete: { type: 'boolean' },
      exclude: { type: 'string', multiple: true },
      full: { type: 'boolean' },
    });
    if (positionals.length < 1 || positionals.length > 2) throw new SandboxError('invalid-input', 'Usage: sandbox sync push NAME [PATH] [--to DIR].');
    const line = new ProgressLine();
    try {
      const summary = await context.controller.push(positionals[0]!, {
        localRoot: positionals[1] ?? '.',
        remoteDir: values.to,
        deleteExtraneous: values.delete,
        excludes: values.exclude,
        full: values.full,
        signal: context.signal,
        onProgress: (p) => (context.json ? undefined : line.update(`${p.phase} ${p.done}/${p.total}`, p.total ? p.done / p.total : undefined)),
      });
      line.done();
      if (context.json) context.printJson(summary);
      else context.out(describePush(summary));
    } finally {
      line.done();
    }
    return EXIT.ok;
  }
  if (direction === 'pull') {
    const { values, positionals } = parse(rest, {
      to: { type: 'string' },
      'max-size': { type: 'string' },
      exclude: { type: 'string', multiple: true },
    });
    if (positionals.length < 1 || positionals.length > 2) throw new SandboxError('invalid-input', 'Usage: sandbox sync pull NAME [DIR] [--to PATH].');
    const line = new ProgressLine();
    let summary;
    try {
      summary = await context.controller.pull(positionals[0]!, {
        remoteDir: positionals[1],
        localRoot: values.to ?? '.',
        maxBytes: values['max-size'] !== undefined ? parseSize(values['max-size'], 'size cap') : undefined,
        excludes: values.exclude,
        signal: context.signal,
        onProgress: (p) => (context.json ? undefined : line.update(`pulled ${p.files} files, ${formatSize(p.bytes)}`)),
      });
    } finally {
      line.done();
    }
    if (context.json) context.printJson(summary);
    else {
      context.out(`Pulled ${summary.files} file${summary.files === 1 ? '' : 's'} (${formatSize(summary.bytes)}) from ${summary.remote} into ${summary.local}.`);
      for (const note of pullNoteLines(summary)) context.out(note);
    }
    return EXIT.ok;
  }
  throw new SandboxError('invalid-input', 'Say push or pull: sandbox sync push|pull NAME ...');
};

const logs: Handler = async (args, context) => {
  const { values, positionals } = parse(args, { follow: { type: 'boolean', short: 'f' }, tail: { type: 'string' } });
  const ref = requireOne(positionals, 'sandbox', 'sandbox logs NAME');
  const entries = context.controller.logs(ref, {
    follow: values.follow,
    tail: values.tail !== undefined ? parseNumber(values.tail, 'line count') : undefined,
    signal: context.signal,
  });
  for await (const entry of entries) {
    if (context.json) process.stdout.write(JSON.stringify(entry) + '\n');
    else process.stdout.write(formatLogEntry(entry) + '\n');
  }
  return EXIT.ok;
};

export function formatLogEntry(entry: LogEntry): string {
  const time = entry.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  if (entry.source === 'sandbox') return `${time}  ${entry.stream === 'stderr' ? 'err' : 'out'}   ${entry.text}`;
  const item = entry.entry;
  switch (item.kind) {
    case 'lifecycle':
      return `${time}  event ${item.action}${item.detail ? ` (${item.detail})` : ''}`;
    case 'exec': {
      const command = typeof item.command === 'string' ? item.command : item.command.join(' ');
      const outcome = item.error
        ? `failed: ${item.error}`
        : item.timedOut
          ? 'timed out'
          : item.cancelled
            ? 'cancelled'
            : item.signal
              ? `killed by ${item.signal}`
              : `exit ${item.exitCode}`;
      return `${time}  exec  ${command} -> ${outcome} in ${item.durationMs} ms${item.outOfMemory ? ` (${item.outOfMemory})` : ''}`;
    }
    case 'sync':
      return item.error
        ? `${time}  sync  ${item.direction} ${item.local} <-> ${item.remote} failed: ${item.error}`
        : `${time}  sync  ${item.direction} ${item.files} files, ${formatSize(item.bytes)} ${item.direction === 'push' ? `${item.local} -> ${item.remote}` : `${item.remote} -> ${item.local}`}`;
  }
}

function manyRefs(args: string[], verb: string): string[] {
  const { positionals } = parse(args, {});
  if (positionals.length === 0) throw new SandboxError('invalid-input', `Name at least one sandbox: sandbox ${verb} NAME...`);
  return positionals;
}

async function forEachRef(
  refs: string[],
  context: Context,
  action: (ref: string) => Promise<SandboxRecord>,
  past: string,
): Promise<number> {
  const done: SandboxRecord[] = [];
  const errors: { ref: string; code: string; message: string }[] = [];
  let failure: unknown;
  for (const ref of refs) {
    try {
      const record = await action(ref);
      done.push(record);
      if (!context.json) context.out(`${past} ${record.name} (${record.id}).`);
    } catch (error) {
      failure ??= error;
      errors.push({ ref, code: isSandboxError(error) ? error.code : 'internal', message: describeError(error) });
      if (!context.json) process.stderr.write(`sandbox: ${describeError(error)}\n`);
    }
  }
  // The same error shape as every other command, plus what did get done.
  if (context.json) context.printJson(errors.length > 0 ? { error: errors[0], errors, done } : done);
  if (failure) return isSandboxError(failure) ? (EXIT_BY_CODE[failure.code] ?? EXIT.failure) : EXIT.failure;
  return EXIT.ok;
}

const stop: Handler = (args, context) =>
  forEachRef(manyRefs(args, 'stop'), context, (ref) => context.controller.stop(ref, context.signal), 'Stopped');

const remove: Handler = (args, context) =>
  forEachRef(manyRefs(args, 'rm'), context, (ref) => context.controller.delete(ref, context.signal), 'Removed');

const prune: Handler = async (args, context) => {
  noArguments(args, 'sandbox prune');
  const removed = await context.controller.prune(context.signal);
  if (context.json) context.printJson(removed);
  else context.out(removed.length === 0 ? 'Nothing to prune.' : removed.map((r) => `Removed ${r.name} (${r.id}): ${r.problem ?? r.state}`).join('\n'));
  return EXIT.ok;
};

const image: Handler = async (args, context) => {
  const [sub, ...rest] = args;
  if (sub !== 'build') throw new SandboxError('invalid-input', 'Usage: sandbox image build [--desktop] [--force].');
  const { values } = parse(rest, { force: { type: 'boolean' }, desktop: { type: 'boolean' } });
  const progress = progressReporter(context);
  let result;
  try {
    result = await context.controller.buildImage({ force: values.force, desktop: values.desktop, signal: context.signal, onProgress: progress.onProgress });
  } finally {
    progress.done();
  }
  if (context.json) context.printJson(result);
  else context.out(result.built ? `Built ${result.tag} in ${(result.durationMs / 1000).toFixed(1)} s.` : `${result.tag} is up to date.`);
  return EXIT.ok;
};

const ssh: Handler = async (args, context) => {
  const { before, after } = splitAtDoubleDash(args);
  const { positionals } = parse(before, {});
  const ref = requireOne(positionals, 'sandbox', 'sandbox ssh NAME [-- CMD]');
  const target = await context.controller.sshTarget(ref);
  const command = after && after.length > 0 ? after : undefined;
  // A directory sandbox shares the host's login: land in its folder, under its marker and limits.
  const remote = target.run
    ? [...(command || !process.stdin.isTTY ? [] : ['-t']), '--', landingCommand(target.run, command)]
    : command
      ? ['--', ...command]
      : [];
  const argv = [...target.command.slice(1), ...remote];
  if (context.json && !command) {
    context.printJson({ alias: target.alias, configFile: target.configFile, command: [target.command[0]!, ...argv] });
    return EXIT.ok;
  }
  return new Promise<number>((resolve, reject) => {
    const child = spawn('ssh', argv, { stdio: 'inherit' });
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new SandboxError('invalid-input', "OpenSSH's ssh client is not installed here; install it (openssh-client) or use `sandbox exec`.")
          : error,
      ),
    );
    // Ctrl-C belongs to the remote side while ssh runs; ssh handles it.
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : EXIT.failure)));
  });
};

const sshConfig: Handler = async (args, context) => {
  const { values, positionals } = parse(args, {
    install: { type: 'boolean' },
    uninstall: { type: 'boolean' },
    file: { type: 'string' },
  });
  if (positionals.length > 1) throw new SandboxError('invalid-input', 'Usage: sandbox ssh-config [NAME] [--install | --uninstall].');
  if (values.install && values.uninstall) throw new SandboxError('invalid-input', 'Give --install or --uninstall, not both.');
  if ((values.install || values.uninstall) && positionals.length > 0) {
    throw new SandboxError('invalid-input', `--install and --uninstall act on the whole config (every sandbox), not on ${positionals[0]}; leave the name out.`);
  }
  const userConfig = values.file ? path.resolve(values.file) : defaultUserSshConfig();
  const records = await context.controller.list();
  const configFile = await context.controller.refreshSshConfig(records);
  if (values.install || values.uninstall) {
    const { changed } = values.install ? await addSshInclude(userConfig, configFile) : await removeSshInclude(userConfig);
    if (context.json) context.printJson({ userConfig, configFile, included: Boolean(values.install), changed });
    else if (values.install) {
      const login = userConfig === defaultUserSshConfig() ? 'ssh sandbox-NAME' : `ssh -F ${userConfig} sandbox-NAME`;
      context.out(changed ? `${userConfig} now includes ${configFile}: \`${login}\` works.` : `${userConfig} already includes ${configFile}.`);
    }
    else context.out(changed ? `Removed the Include of ${configFile} from ${userConfig}.` : `${userConfig} has no Include of ours.`);
    return EXIT.ok;
  }
  const wanted = positionals[0] ? (await context.controller.sshTarget(positionals[0])).alias : undefined;
  const text = await readFile(configFile, 'utf8');
  const blocks = text.split(/\n(?=Host )/).filter((block) => block.startsWith('Host ') && (!wanted || block.startsWith(`Host ${wanted}\n`)));
  if (context.json) {
    context.printJson({ configFile, knownHostsFile: context.controller.store.knownHostsPath, hosts: blocks.map((b) => b.split('\n')[0]!.slice(5)), userConfig, includedFrom: (await readSshInclude(userConfig)) === configFile ? userConfig : null });
  } else {
    context.out(blocks.length ? blocks.map((b) => b.trimEnd()).join('\n\n') : '# No running sandbox: start one with `sandbox start`.');
  }
  return EXIT.ok;
};

const forward: Handler = async (args, context) => {
  const { values, positionals } = parse(args, { local: { type: 'string' } });
  if (positionals.length !== 2) throw new SandboxError('invalid-input', 'Usage: sandbox forward NAME PORT [--local PORT].');
  const remotePort = parseNumber(positionals[1]!, 'port');
  const localPort = values.local !== undefined ? parseNumber(values.local, 'local port') : undefined;
  const opened = await context.controller.forward(positionals[0]!, remotePort, { localPort });
  const description = { sandbox: opened.sandboxName, remotePort: opened.remotePort, localPort: opened.localPort, url: opened.url };
  if (context.json) context.printJson(description);
  else context.out(`Forwarding ${opened.url} to port ${remotePort} of ${opened.sandboxName}; Ctrl-C to stop.`);
  // A connection the sandbox refused (nothing listening there) is said, not only dropped.
  opened.on('error-connection', (error: unknown) => process.stderr.write(`sandbox: ${describeError(error)}\n`));
  // Until Ctrl-C, or until the sandbox stops or is removed (here, by another process, or outside).
  const watching = new AbortController();
  const end = await new Promise<SandboxEnd | undefined>((resolve) => {
    if (context.signal.aborted) resolve(undefined);
    context.signal.addEventListener('abort', () => resolve(undefined), { once: true });
    opened.once('close', () => resolve(undefined));
    void context.controller.resolve(opened.sandboxId).then((record) => whenSandboxEnds(context.controller, record, watching.signal)).then(resolve, () => undefined);
  });
  watching.abort();
  opened.close();
  if (end) throw sandboxEndError(end, `${opened.url} no longer forwards its port ${remotePort}`, 'forward again');
  return EXIT.ok;
};

const host: Handler = async (args, context) => {
  const [sub, ...rest] = args;
  const provider = context.controller.sshHosts;
  if (sub === 'add') {
    const { values, positionals } = parse(rest, {
      host: { type: 'string' },
      port: { type: 'string' },
      user: { type: 'string' },
      identity: { type: 'string', short: 'i' },
      agent: { type: 'boolean' },
      fingerprint: { type: 'string' },
    });
    const name = requireOne(positionals, 'host name', 'sandbox host add NAME --host ADDRESS --user USER (--identity FILE | --agent)');
    if (values.host === undefined || values.user === undefined) {
      throw new SandboxError('invalid-input', 'Give the address and the login: sandbox host add NAME --host ADDRESS --user USER (--identity FILE | --agent).');
    }
    const line = new ProgressLine();
    let added: SshHost;
    try {
      added = await addHost(provider, {
        name,
        host: values.host,
        port: values.port !== undefined ? parseNumber(values.port, 'port') : undefined,
        user: values.user,
        identityFile: values.identity,
        agent: values.agent,
        onStep: (message) => (context.json ? undefined : line.update(message)),
        confirm: async (presented) => {
          line.done();
          if (values.fingerprint !== undefined) {
            if (fingerprintMatches(values.fingerprint, presented.fingerprint)) return true;
            throw new SandboxError(
              'host-key-mismatch',
              `${presented.address} presented the ${presented.type} key ${presented.fingerprint}, not the --fingerprint ${values.fingerprint.trim()}, so nothing was saved; check the key on the host (\`ssh-keygen -lf\` of its host key file) and whether something sits between you and it.`,
            );
          }
          if (!process.stdin.isTTY || !process.stderr.isTTY) {
            throw new SandboxError(
              'invalid-input',
              `${presented.address} presented an ${presented.type} key, and nothing was saved: pinning needs its fingerprint read on the host itself (\`ssh-keygen -lf /etc/ssh/ssh_host_${presented.type.toLowerCase()}_key.pub\` there, or your provider's console), given as --fingerprint SHA256:...; the key this connection saw could be an impostor's, so it is not offered here.`,
            );
          }
          process.stderr.write(
            `The host key of ${presented.address} is ${presented.type} ${presented.fingerprint}.\n` +
              'Compare it with what the host itself shows (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` there).\n',
          );
          return askYesNo(`Trust this key for ${name}? [y/N] `);
        },
      });
    } finally {
      line.done();
    }
    if (context.json) context.printJson(added);
    else {
      context.out(`Added host ${added.name} (${added.user}@${added.host}:${added.port}); pinned its ${added.hostKey.split(' ')[0]} key ${added.fingerprint}.`);
      context.out(
        added.docker
          ? `Docker answers there for ${added.user}: its sandboxes are containers. Start one: ${selfCommand()} start --host ${added.name} [PATH]`
          : `No Docker there for ${added.user}: its sandboxes are folders under ${added.home}/.agent-sandboxes/sandboxes, sharing ${added.user}'s account (see the README). Start one: ${selfCommand()} start --host ${added.name} [PATH]`,
      );
    }
    return EXIT.ok;
  }
  if (sub === 'list' || sub === 'ls') {
    noArguments(rest, 'sandbox host list');
    const hosts = await provider.hosts.list();
    const records = await context.controller.store.listRecords();
    const count = (name: string) => records.filter((record) => record.placement?.host === name).length;
    if (context.json) context.printJson(hosts.map((entry) => ({ ...entry, sandboxes: count(entry.name) })));
    else if (hosts.length === 0) context.out(`No SSH hosts. Add one with \`${selfCommand()} host add NAME --host ADDRESS --user USER --identity FILE\`.`);
    else {
      const rows = [['NAME', 'ADDRESS', 'LOGIN', 'SANDBOXES AS', 'SANDBOXES', 'HOST KEY']];
      for (const entry of hosts) {
        rows.push([
          entry.name,
          `${entry.host}:${entry.port}`,
          `${entry.user} (${entry.identityFile ?? 'ssh-agent'})`,
          entry.docker ? 'containers' : 'folders',
          String(count(entry.name)),
          entry.fingerprint,
        ]);
      }
      context.out(renderTable(rows));
    }
    return EXIT.ok;
  }
  if (sub === 'rm' || sub === 'remove') {
    const { values, positionals } = parse(rest, { force: { type: 'boolean' } });
    const name = requireOne(positionals, 'host', 'sandbox host rm NAME [--force]');
    const { host: removed, removed: sandboxes } = await removeHost(context.controller, name, { force: values.force, signal: context.signal });
    if (context.json) context.printJson({ host: removed, removedSandboxes: sandboxes });
    else {
      for (const record of sandboxes) context.out(`Removed ${record.name} (${record.id}).`);
      context.out(`Removed host ${removed.name}; its pinned key is forgotten.`);
    }
    return EXIT.ok;
  }
  throw new SandboxError('invalid-input', 'Usage: sandbox host add|list|rm ...; see `sandbox help host`.');
};

/** One y/N question on the terminal; anything but yes is no. */
async function askYesNo(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(question);
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    prompt.close();
  }
}

const screenshotCommand: Handler = async (args, context) => {
  const { positionals } = parse(args, {});
  if (positionals.length !== 2) throw new SandboxError('invalid-input', 'Usage: sandbox screenshot NAME FILE.png.');
  const file = path.resolve(positionals[1]!);
  if (!isDirectory(path.dirname(file))) throw new SandboxError('invalid-input', `The folder ${path.dirname(file)} does not exist; create it or save the screenshot elsewhere.`);
  const shot = await screenshot(context.controller, positionals[0]!, context.signal);
  await writeFile(file, shot.png);
  if (context.json) context.printJson({ file, width: shot.width, height: shot.height, bytes: shot.png.length });
  else context.out(`Saved ${shot.width}x${shot.height} to ${file}.`);
  return EXIT.ok;
};

const desktop: Handler = async (args, context) => {
  const { values, positionals } = parse(args, { port: { type: 'string' }, 'view-only': { type: 'boolean' } });
  const ref = requireOne(positionals, 'sandbox', 'sandbox desktop NAME [--port N] [--view-only]');
  const port = values.port !== undefined ? parseNumber(values.port, 'port') : undefined;
  const served = await serveDesktop(context.controller, ref, { port, viewOnly: values['view-only'] });
  if (context.json) context.printJson({ url: served.url, port: served.port });
  else context.out(`The desktop is at ${served.url}\n(one-time link: open it once in a browser on this machine; Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    if (context.signal.aborted) resolve();
    context.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await served.close();
  return EXIT.ok;
};

const HANDLERS: Record<string, Handler> = { start, list, ls: list, status, exec, sync, logs, stop, rm: remove, prune, image, ssh, 'ssh-config': sshConfig, forward, screenshot: screenshotCommand, desktop, host };

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`sandbox: ${describeError(error)}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}
