import { EXIT } from '../../app/exitStatus';
import { visibleControls } from '../../app/format';
import { SandboxError } from '../../core/errors';
import { parseNumber } from '../../app/parse';
import { LESSONS_FILE, readLessons } from '../../core/gates/lessons';
import { parse, type Command } from '../command';

export const lessonsCommand: Command = {
  name: 'lessons',
  usage: [['lessons [--last N]', "what went wrong with agents' changes (lessons.json)"]],
  help: `Usage: sandbox lessons [--last N] [--agent NAME] [--json]
Lists the lessons the gates wrote when a change was stopped: its task and agent, the gate, why,
the failing tests and the snapshot that keeps the failed state. The file is ${LESSONS_FILE} in the
state dir; its format is in docs/gates.md.
  --last N         only the newest N (default 20; 0 for all)
  --agent NAME     only this agent's`,
  async run(args, context) {
    const { values, positionals } = parse(args, { last: { type: 'string' }, agent: { type: 'string' } });
    if (positionals.length > 0) throw new SandboxError('invalid-input', `Unexpected argument ${positionals[0]}: sandbox lessons [--last N].`);
    const last = values.last === undefined ? 20 : parseNumber(values.last, 'number of lessons');
    let lessons = await readLessons(context.controller.store.root);
    if (values.agent !== undefined) lessons = lessons.filter((lesson) => lesson.agentId === values.agent);
    if (last > 0) lessons = lessons.slice(-last);
    if (context.json) {
      context.printJson(lessons);
      return EXIT.ok;
    }
    if (lessons.length === 0) context.out('No lessons: no change has been stopped by the gates.');
    for (const lesson of lessons) {
      context.out(visibleControls(`${lesson.time}  task ${lesson.taskId}${lesson.agentId ? ` (${lesson.agentId})` : ''}  ${lesson.level}: ${lesson.reason}`));
      for (const test of lesson.failingTests.slice(0, 5)) {
        const where = test.location ? ` at ${test.location.path}:${test.location.line}` : '';
        context.out(visibleControls(`    ${test.id}${where}${test.message ? `: ${test.message}` : ''}`));
      }
      if (lesson.snapshot) context.out(`    failed state kept as snapshot ${lesson.snapshot}`);
      if (lesson.note) context.out(visibleControls(`    note: ${lesson.note}`));
    }
    return EXIT.ok;
  },
};
