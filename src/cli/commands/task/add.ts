import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../../app/exitStatus';
import { parseDuration, parseEnvPairs, parseNumber } from '../../../app/parse';
import { describeError, SandboxError } from '../../../core/errors';
import { readGatesConfig } from '../../../core/gates/config';
import { TaskClient } from '../../../core/tasks/client';
import { daemonStatus } from '../../../core/tasks/daemonLock';
import { splitAtDoubleDash } from '../../args';
import { parse, selfCommand, type Command } from '../../command';

export const taskAddCommand: Command = {
  name: 'add',
  usage: [['task add [options] -- CMD...', 'queue a command to run in a sandbox of its own']],
  help: `Usage: sandbox task add [options] -- CMD [ARG...]
       sandbox task add [options] --script FILE
  --title TEXT           what the task is for
  --priority P           critical, high, normal (default) or low
  --profile NAME         the sandbox profile (and warm pool) to use (default: default)
  --workspace PATH       a local folder pushed into the sandbox before the command runs
  --result PATH          a local folder the workspace is pulled into when the task succeeds
  --env NAME=VALUE       environment variable (repeatable)
  --timeout DURATION     kill the command after DURATION (like 30s, 5m)
  --attempts N           places it may be tried in all, when a machine fails (default 2)
  --key KEY              idempotency key: adding the same key again returns the first task
  --keep                 keep the sandbox when the task ends
  --group NAME           race tasks of one group (best of N): the first change to pass its
                         gates is applied, the others are cancelled or rolled back
  --gates / --no-gates   judge the change with the workspace's quality gates before it reaches
                         the workspace (default: on when it has .sandboxes/gates.json)
  --agent NAME           who asks for it
One quoted argument after -- runs in sh -c. The daemon runs queued tasks: \`sandbox daemon start\`.`,
  async run(args, context) {
    const { before, after } = splitAtDoubleDash(args);
    const { values, positionals } = parse(before, {
      title: { type: 'string' },
      priority: { type: 'string' },
      profile: { type: 'string' },
      workspace: { type: 'string' },
      result: { type: 'string' },
      env: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      attempts: { type: 'string' },
      key: { type: 'string' },
      keep: { type: 'boolean' },
      gates: { type: 'boolean' },
      group: { type: 'string' },
      'no-gates': { type: 'boolean' },
      agent: { type: 'string' },
      script: { type: 'string' },
    });
    if (values.gates && values['no-gates']) throw new SandboxError('invalid-input', 'Give --gates or --no-gates, not both.');
    if (positionals.length > 0)
      throw new SandboxError('invalid-input', `Unexpected argument ${positionals[0]}; put the command after --: sandbox task add -- CMD.`);
    let command: string | string[];
    if (values.script !== undefined) {
      if (after && after.length > 0) throw new SandboxError('invalid-input', 'Give either --script FILE or a command after --, not both.');
      try {
        command = readFileSync(values.script, 'utf8');
      } catch {
        throw new SandboxError('invalid-input', `The script ${values.script} cannot be read; give a readable file.`);
      }
    } else {
      if (!after || after.length === 0) throw new SandboxError('invalid-input', 'The task has an empty command; put it after --: sandbox task add -- CMD.');
      command = after.length === 1 ? after[0]! : after;
    }
    const client = new TaskClient(context.controller.store.root);
    const { task, existing } = await client.add({
      command,
      ...(values.title !== undefined ? { title: values.title } : {}),
      ...(values.priority !== undefined ? { priority: values.priority } : {}),
      ...(values.profile !== undefined ? { profile: values.profile } : {}),
      ...(values.workspace !== undefined ? { workspace: path.resolve(values.workspace) } : {}),
      ...(values.result !== undefined ? { resultDir: path.resolve(values.result) } : {}),
      ...(values.env ? { env: parseEnvPairs(values.env) } : {}),
      ...(values.timeout !== undefined ? { timeout: parseDuration(values.timeout, 'timeout') } : {}),
      ...(values.attempts !== undefined ? { attempts: parseNumber(values.attempts, 'number of attempts') } : {}),
      ...(values.key !== undefined ? { idempotencyKey: values.key } : {}),
      ...(values.keep ? { keep: true } : {}),
      ...(values.gates ? { gates: true } : values['no-gates'] ? { gates: false } : {}),
      ...(values.group !== undefined ? { group: values.group } : {}),
      agentId: values.agent ?? 'cli',
    });
    if (task.gates && task.workspace) {
      // Said now, not after the agent's work: the change is judged only with a usable gates file.
      await readGatesConfig(task.workspace).catch((error: unknown) =>
        process.stderr.write(`The task's change will fail at L0 unless this is fixed before it ends: ${describeError(error)}\n`),
      );
    }
    const daemon = daemonStatus(context.controller.store.root).running;
    if (context.json) context.printJson({ ...task, existing, daemon });
    else {
      context.out(existing ? `Task ${task.id} already has the key ${task.idempotencyKey} (${task.state}).` : `Queued task ${task.id} (${task.priority}).`);
      if (!daemon) process.stderr.write(`No daemon runs for this state dir, so the task waits; start one with \`${selfCommand()} daemon start\`.\n`);
    }
    return EXIT.ok;
  },
};
