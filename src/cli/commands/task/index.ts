import type { CommandGroup } from '../../command';
import { taskAddCommand } from './add';
import { taskCancelCommand, taskRetryCommand } from './change';
import { taskImportCommand } from './import';
import { taskListCommand, taskShowCommand } from './list';
import { taskLogsCommand } from './logs';

const subcommands = [taskAddCommand, taskListCommand, taskShowCommand, taskLogsCommand, taskCancelCommand, taskRetryCommand, taskImportCommand];

export const taskGroup: CommandGroup = {
  name: 'task',
  usage: subcommands.flatMap((command) => command.usage),
  help: 'Usage: sandbox task add|list|show|logs|cancel|retry|import ...\nWork for agents: each task runs in a sandbox of its own, placed by the daemon (`sandbox daemon start`).',
  subcommands,
};
