import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { COMMANDS, isGroup, nearestName, usageText } from '../../../src/cli/commands';
import { EXIT, main } from '../../../src/cli/main';

/** Runs the CLI in this process and keeps what it writes. */
async function run(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  process.stdout.write = ((chunk: string) => ((stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
  try {
    const status = await main(argv);
    return { status, stdout, stderr };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
}

describe('the sandbox CLI: commands, usage and help', function () {
  it('lists every command and subcommand in the usage, from their own words', function () {
    const usage = usageText();
    const commands = COMMANDS.flatMap((command) => (isGroup(command) ? command.subcommands : [command]));
    assert.ok(commands.length >= 19, `only ${commands.length} commands registered`);
    for (const command of commands) {
      for (const [synopsis, summary] of command.usage) {
        assert.ok(usage.includes(`sandbox ${synopsis}`), `the usage lacks ${synopsis}`);
        assert.ok(usage.includes(summary), `the usage lacks the summary of ${synopsis}`);
      }
    }
  });

  for (const name of ['list', 'status', 'stop', 'rm', 'prune', 'start', 'exec', 'logs', 'ssh', 'forward', 'snapshot', 'fork']) {
    it(`answers \`${name} --help\` with its own help, not the general usage`, async function () {
      const { status, stdout } = await run(name, '--help');
      assert.equal(status, EXIT.ok);
      assert.match(stdout, new RegExp(`^Usage: sandbox ${name}\\b`));
      assert.ok(!stdout.includes('Options for every command'), 'printed the general usage');
    });
  }

  it("answers a subcommand's --help and `help GROUP SUB` with that subcommand's help", async function () {
    assert.match((await run('sync', 'pull', '--help')).stdout, /^Usage: sandbox sync pull NAME/);
    assert.match((await run('help', 'host', 'rm')).stdout, /^Usage: sandbox host rm NAME/);
    const group = (await run('host', '--help')).stdout;
    for (const sub of ['add', 'list', 'rm']) assert.match(group, new RegExp(`Usage: sandbox host ${sub}`));
    assert.match((await run('help', 'snapshots', 'prune')).stdout, /^Usage: sandbox snapshots prune \[--keep N\]/);
    const snapshots = await run('snapshots', '--help');
    assert.equal(snapshots.status, EXIT.ok);
    for (const sub of ['list', 'rm', 'prune']) assert.match(snapshots.stdout, new RegExp(`Usage: sandbox snapshots ${sub === 'list' ? '\\[list\\]' : sub}`));
  });

  it('answers `help agents` with the guide, whose every command and option exists', async function () {
    const { status, stdout } = await run('help', 'agents');
    assert.equal(status, EXIT.ok);
    assert.match(stdout, /^Working in sandboxes: a guide for agents/);
    const guide = readFileSync(path.join(__dirname, '..', '..', '..', '..', 'docs', 'agents.md'), 'utf8');
    for (const text of [stdout, guide]) {
      // Commands are written in backquotes, or at the start of an indented line.
      const lines = [...text.matchAll(/(?:`|^ {2})sandbox ([a-z]+)(?: ([a-z]+))?[^\n`]*/gm)];
      assert.ok(lines.length >= 6, 'the guide names its commands');
      for (const [line, name, sub] of lines) {
        const command = COMMANDS.find((candidate) => candidate.name === name);
        if (name === 'help') continue;
        assert.ok(command, `the guide names \`sandbox ${name}\`, which does not exist`);
        if (isGroup(command) && sub)
          assert.ok(
            command.subcommands.some((candidate) => candidate.name === sub),
            `no \`sandbox ${name} ${sub}\``,
          );
        if (isGroup(command)) continue;
        // --json belongs to every command.
        for (const option of (line.match(/--[a-z-]+/g) ?? []).filter((option) => option !== '--json')) {
          assert.ok(command.help.includes(option), `\`sandbox ${name}\` has no option ${option} (in: ${line})`);
        }
      }
    }
  });

  it('suggests the nearest command for a typo, and none for a word far from every command', function () {
    const names = ['start', 'list', 'ls', 'status', 'stop', 'rm', 'prune', 'exec', 'logs'];
    assert.equal(nearestName('lst', names), 'list');
    assert.equal(nearestName('stauts', names), 'status');
    assert.equal(nearestName('exce', names), 'exec');
    assert.equal(nearestName('frobnicate', names), undefined);
  });

  it('says an unknown command with the nearest one, as a usage error', async function () {
    const { status, stderr, stdout } = await run('lst');
    assert.equal(status, EXIT.usage);
    assert.equal(stdout, '');
    assert.match(stderr, /^sandbox: No command is called "lst" \(did you mean `sandbox list`\?\); see `sandbox --help`/);
    assert.match((await run('sync', 'psuh')).stderr, /did you mean `sandbox sync push`/);
  });

  it('prints the JSON error shape for an unknown command under --json', async function () {
    const { status, stdout, stderr } = await run('--json', 'lst');
    assert.equal(status, EXIT.usage);
    assert.equal(stderr, '');
    const printed = JSON.parse(stdout) as { error: { code: string; message: string } };
    assert.equal(printed.error.code, 'invalid-input');
    assert.match(printed.error.message, /"lst".*`sandbox list`/);
  });
});
