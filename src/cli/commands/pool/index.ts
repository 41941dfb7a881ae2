import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../../app/exitStatus';
import { parseNumber } from '../../../app/parse';
import { SandboxError } from '../../../core/errors';
import { findProfile, poolOf, readTasksConfig, writeTasksConfig } from '../../../core/tasks/config';
import { daemonStatus } from '../../../core/tasks/daemonLock';
import { SCHEDULER_STATUS_FILE, type SchedulerStatus } from '../../../core/tasks/scheduler';
import { renderTable } from '../../output';
import { parse, requireOne, selfCommand, type Command, type CommandGroup } from '../../command';

const poolStatusCommand: Command = {
  name: 'status',
  usage: [['pool status', 'warm pools: size, warm and busy sandboxes, machines']],
  help: 'Usage: sandbox pool status [--json]\nWhat the daemon reports of each pool and machine.',
  async run(args, context) {
    parse(args, {});
    const root = context.controller.store.root;
    const daemon = daemonStatus(root);
    const status = daemon.running
      ? await fs.readFile(path.join(root, SCHEDULER_STATUS_FILE), 'utf8').then(
          (text) => JSON.parse(text) as SchedulerStatus,
          () => undefined,
        )
      : undefined;
    const config = await readTasksConfig(root);
    if (context.json) {
      context.printJson({
        daemon: daemon.running,
        pools: status?.pools ?? Object.entries(config.pools).map(([profile, settings]) => ({ profile, ...settings })),
        placements: status?.placements ?? [],
      });
      return EXIT.ok;
    }
    if (!status) {
      context.out(`No daemon runs, so no pool is kept warm; start it with \`${selfCommand()} daemon start\`.`);
      const rows = [['PROFILE', 'SIZE', 'MAX', 'IDLE MIN']];
      for (const [profile, settings] of Object.entries(config.pools))
        rows.push([profile, String(settings.size), String(settings.max), String(settings.idleMinutes)]);
      context.out(renderTable(rows));
      return EXIT.ok;
    }
    const rows = [['PROFILE', 'SIZE', 'MAX', 'WARM', 'BUSY', 'MAKING']];
    for (const pool of status.pools)
      rows.push([pool.profile, String(pool.size), String(pool.max), String(pool.warm.length), String(pool.busy.length), String(pool.creating)]);
    context.out(renderTable(rows));
    const machines = [['MACHINE', 'CPUS', 'MEMORY', 'TASKS', 'STATE']];
    for (const p of status.placements) {
      machines.push([
        p.key,
        `${p.cpus}${p.declared ? ' (declared)' : ''}`,
        `${Math.round(p.memory / 1024 ** 2)} MiB`,
        String(p.tasks),
        p.reachable ? 'ok' : (p.problem ?? 'not answering'),
      ]);
    }
    context.out(renderTable(machines));
    context.out(`${status.queued} queued, ${status.placed} placed.`);
    return EXIT.ok;
  },
};

const poolSetCommand: Command = {
  name: 'set',
  usage: [['pool set PROFILE --size N [--max N]', 'how many sandboxes of a profile stay warm']],
  help: `Usage: sandbox pool set PROFILE --size N [--max N] [--idle-minutes M]
--size: sandboxes kept started and ready; --max: most of the profile at once;
--idle-minutes: sandboxes above the size idle this long are destroyed (default 5).`,
  async run(args, context) {
    const { values, positionals } = parse(args, { size: { type: 'string' }, max: { type: 'string' }, 'idle-minutes': { type: 'string' } });
    const profile = requireOne(positionals, 'profile', 'sandbox pool set PROFILE --size N');
    const root = context.controller.store.root;
    const config = await readTasksConfig(root);
    findProfile(config, profile);
    const current = poolOf(config, profile);
    const size = values.size !== undefined ? parseNumber(values.size, 'pool size') : current.size;
    const max = values.max !== undefined ? parseNumber(values.max, 'pool maximum') : Math.max(current.max, size);
    const idleMinutes = values['idle-minutes'] !== undefined ? Number(values['idle-minutes']) : current.idleMinutes;
    if (!Number.isInteger(size) || size < 0 || size > 100) throw new SandboxError('invalid-input', 'The pool size must be a whole number from 0 to 100.');
    if (!Number.isInteger(max) || max < size)
      throw new SandboxError('invalid-input', `The maximum (${max}) must be a whole number no smaller than the size (${size}).`);
    if (!(idleMinutes > 0)) throw new SandboxError('invalid-input', 'The idle minutes must be a positive number, like 5 or 0.5.');
    config.pools[profile] = { size, max, idleMinutes };
    await writeTasksConfig(root, config);
    if (context.json) context.printJson({ profile, ...config.pools[profile] });
    else context.out(`Pool ${profile}: ${size} warm, at most ${max}, idle ones above the size destroyed after ${idleMinutes} min.`);
    return EXIT.ok;
  },
};

export const poolGroup: CommandGroup = {
  name: 'pool',
  usage: [...poolStatusCommand.usage, ...poolSetCommand.usage],
  help: 'Usage: sandbox pool status|set ...\nSandboxes kept started per profile, so a task starts in milliseconds.',
  subcommands: [poolStatusCommand, poolSetCommand],
};
