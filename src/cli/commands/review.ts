import { EXIT } from '../../app/exitStatus';
import { visibleControls } from '../../app/format';
import { SandboxError } from '../../core/errors';
import { reviewDiffText } from '../../core/gates/results';
import { TaskClient } from '../../core/tasks/client';
import { parse, requireOne, type Command } from '../command';
import { ask } from '../prompt';

export const reviewCommand: Command = {
  name: 'review',
  usage: [['review TASK [--approve|--reject]', 'show a change waiting for a person, and decide']],
  help: `Usage: sandbox review TASK [--approve | --reject] [--note TEXT]
Shows the change of a task that waits for review (its gates' L2 rules asked for a person) and
asks, on a terminal, whether to apply it. In scripts give --approve or --reject.
  --approve        apply the change to the workspace (merged with edits made meanwhile)
  --reject         roll it back: the workspace is untouched and a lesson is written
  --note TEXT      why (kept in lessons.json on reject)
  --diff-only      print the change and decide nothing`,
  async run(args, context) {
    const { values, positionals } = parse(args, {
      approve: { type: 'boolean' },
      reject: { type: 'boolean' },
      note: { type: 'string' },
      'diff-only': { type: 'boolean' },
    });
    if (values.approve && values.reject) throw new SandboxError('invalid-input', 'Give --approve or --reject, not both.');
    const client = new TaskClient(context.controller.store.root);
    const task = client.resolve(requireOne(positionals, 'task id', 'sandbox review TASK'));
    if (task.gate?.phase !== 'review') {
      throw new SandboxError(
        'wrong-state',
        `Task ${task.id} is not waiting for review (${task.gate ? `its change is ${task.gate.phase}` : 'it has no gated change'}).`,
      );
    }
    const diff = visibleControls(await reviewDiffText(context.controller.store.root, task.id, task.gate.attempt));
    let decision: 'approve' | 'reject' | undefined = values.approve ? 'approve' : values.reject ? 'reject' : undefined;
    if (context.json && !decision && !values['diff-only']) throw new SandboxError('invalid-input', 'With --json give --approve, --reject or --diff-only.');
    if (!context.json) {
      context.out(visibleControls(`Task ${task.id}${task.title ? ` (${task.title})` : ''} waits for review: ${task.gate.reason ?? ''}`.trim()));
      context.out(diff);
    }
    if (values['diff-only']) {
      if (context.json) context.printJson({ task: task.id, diff });
      return EXIT.ok;
    }
    let note = values.note;
    if (!decision) {
      if (!process.stdin.isTTY) throw new SandboxError('invalid-input', 'No terminal to ask on; give --approve or --reject.');
      const answer = (await ask('Apply this change to the workspace? [a]pprove / [r]eject / anything else to leave it waiting: ')).toLowerCase();
      if (answer === 'a' || answer === 'approve') decision = 'approve';
      else if (answer === 'r' || answer === 'reject') decision = 'reject';
      else {
        context.out('Left waiting for review.');
        return EXIT.ok;
      }
      if (decision === 'reject' && note === undefined) note = (await ask('Why (kept as a lesson; Enter for none)? ')) || undefined;
    }
    const decided = client.review(task.id, decision, note);
    if (context.json) context.printJson({ ...decided, diff });
    else
      context.out(
        decision === 'approve'
          ? `Approved: the daemon applies the change of task ${task.id} to ${task.workspace}.`
          : `Rejected: the change of task ${task.id} is rolled back; the workspace is untouched.`,
      );
    return EXIT.ok;
  },
};
