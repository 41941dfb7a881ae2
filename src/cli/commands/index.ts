import type { Command, CommandGroup } from '../command';
import { cloudGroup } from './cloud';
import { costCommand } from './cost';
import { collectorGroup } from './collector';
import { daemonGroup } from './daemon';
import { dashboardCommand } from './dashboard';
import { desktopCommand } from './desktop';
import { doctorCommand } from './doctor';
import { evalCommand } from './eval';
import { eventsCommand } from './events';
import { execCommand } from './exec';
import { extendCommand } from './extend';
import { forkCommand } from './fork';
import { forwardCommand } from './forward';
import { gatesGroup } from './gates';
import { hostGroup } from './host';
import { imageGroup } from './image';
import { jupyterCommand } from './jupyter';
import { lessonsCommand } from './lessons';
import { listCommand } from './list';
import { logsCommand } from './logs';
import { mcpCommand } from './mcp';
import { metricsCommand } from './metrics';
import { poolGroup } from './pool';
import { pruneCommand } from './prune';
import { reviewCommand } from './review';
import { rmCommand } from './rm';
import { screenshotCommand } from './screenshot';
import { snapshotCommand } from './snapshot';
import { snapshotsGroup } from './snapshots';
import { sshCommand } from './ssh';
import { sshConfigCommand } from './sshConfig';
import { startCommand } from './start';
import { statusCommand } from './status';
import { stopCommand } from './stop';
import { syncGroup } from './sync';
import { taskGroup } from './task';
import { topCommand } from './top';

/** Every command, in the order the usage lists them. */
export const COMMANDS: readonly (Command | CommandGroup)[] = [
  startCommand,
  listCommand,
  statusCommand,
  execCommand,
  syncGroup,
  logsCommand,
  stopCommand,
  extendCommand,
  rmCommand,
  pruneCommand,
  snapshotCommand,
  snapshotsGroup,
  forkCommand,
  imageGroup,
  sshCommand,
  sshConfigCommand,
  forwardCommand,
  desktopCommand,
  jupyterCommand,
  screenshotCommand,
  dashboardCommand,
  hostGroup,
  taskGroup,
  reviewCommand,
  gatesGroup,
  lessonsCommand,
  evalCommand,
  poolGroup,
  cloudGroup,
  costCommand,
  topCommand,
  metricsCommand,
  daemonGroup,
  eventsCommand,
  collectorGroup,
  mcpCommand,
  doctorCommand,
];

export function isGroup(command: Command | CommandGroup): command is CommandGroup {
  return 'subcommands' in command;
}

/** The command or group a name (or alias) calls, among `commands`. */
export function findCommand<T extends Command | CommandGroup>(commands: readonly T[], name: string): T | undefined {
  return commands.find((command) => command.name === name || ('aliases' in command && command.aliases?.includes(name)));
}

const SYNOPSIS_WIDTH = 30;

/** The general usage, made from the commands' own words so the two cannot drift apart. */
export function usageText(): string {
  const lines: string[] = [];
  for (const command of COMMANDS) {
    for (const [synopsis, summary] of command.usage) {
      const head = `  sandbox ${synopsis}`;
      if (synopsis.length <= SYNOPSIS_WIDTH) lines.push(`${head.padEnd(SYNOPSIS_WIDTH + 10)}${summary}`);
      else lines.push(head, `${' '.repeat(SYNOPSIS_WIDTH + 10)}${summary}`);
    }
  }
  return `sandbox: isolated machines for agents, on the local Docker engine, your own SSH hosts or DigitalOcean

Usage:
${lines.join('\n')}

Options for every command: --json (machine-readable output), --help.
\`sandbox help COMMAND\` or \`sandbox COMMAND --help\` says more about one command;
\`sandbox help agents\` is a guide for agents working in sandboxes.
NAME is a sandbox's name, id, or a unique prefix of either.
State lives in ~/.agent-sandboxes (set AGENT_SANDBOXES_HOME to move it).`;
}

/** A group's help: its own words, then each subcommand's usage. */
export function groupHelp(group: CommandGroup): string {
  return [group.help, '', ...group.subcommands.map((command) => command.help)].join('\n');
}

/** The name nearest to a mistyped one, if one is near enough to be what was meant. */
export function nearestName(typed: string, names: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = editDistance(typed.toLowerCase(), name);
    if (!best || distance < best.distance) best = { name, distance };
  }
  // Beyond a third of the word, a suggestion is a guess.
  return best && best.distance <= Math.max(1, Math.floor(typed.length / 3)) ? best.name : undefined;
}

/** Every name the top level answers to, aliases included. */
export function commandNames(commands: readonly (Command | CommandGroup)[] = COMMANDS): string[] {
  return commands.flatMap((command) => [command.name, ...(('aliases' in command && command.aliases) || [])]);
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit (`lsit` is one from `list`). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i]![j] = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i]![j] = Math.min(rows[i]![j]!, rows[i - 2]![j - 2]! + 1);
    }
  }
  return rows[a.length]![b.length]!;
}
