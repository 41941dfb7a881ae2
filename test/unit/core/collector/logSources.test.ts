import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineLogFilter, engineSince, parseEngineTime } from '../../../../src/core/collector/engineLogCursor';
import { journalTailScript, NO_JOURNAL, parseJournalOutput } from '../../../../src/core/collector/journalTail';
import { gateResultEvent } from '../../../../src/core/gates/resultEvent';
import type { GateResult } from '../../../../src/core/gates/pipeline';
import { parseLogPatterns, validateProfile } from '../../../../src/core/profile';
import { isSandboxError } from '../../../../src/core/errors';
import { readTasksConfig } from '../../../../src/core/tasks/config';

describe("collector: a container's own output, resumed by time", function () {
  const T1 = '2026-12-06T09:30:00.123456789Z';
  const T2 = '2026-12-06T09:30:00.5Z';

  it("gives the engine's since to the nanosecond", function () {
    assert.equal(engineSince({ time: T1, count: 1 }), `${Date.parse('2026-12-06T09:30:00Z') / 1000}.123456789`);
    assert.equal(engineSince({ time: T2, count: 1 }), `${Date.parse('2026-12-06T09:30:00Z') / 1000}.500000000`);
    assert.equal(engineSince(undefined), undefined);
    assert.equal(parseEngineTime('yesterday'), undefined);
  });

  it('skips the lines at the cursor it took already, and takes the rest of that time and after', function () {
    const first = new EngineLogFilter(undefined);
    assert.deepEqual(
      [T1, T1, T2].map((t) => first.take(t)),
      [true, true, true],
    );
    assert.deepEqual(first.position, { time: T2, count: 1 });
    // Two lines at T1 were stored; the engine sends both again (since is inclusive) and a third at T1.
    const resumed = new EngineLogFilter({ time: T1, count: 2 });
    assert.deepEqual(
      [T1, T1, T1, T2].map((t) => resumed.take(t)),
      [false, false, true, true],
    );
    assert.deepEqual(resumed.position, { time: T2, count: 1 });
  });

  it('counts lines of one time taken over several rounds', function () {
    const filter = new EngineLogFilter({ time: T1, count: 1 });
    assert.deepEqual(
      [T1, T1].map((t) => filter.take(t)),
      [false, true],
    );
    assert.deepEqual(filter.position, { time: T1, count: 2 });
  });
});

describe("collector: a machine's system journal", function () {
  it('reads entries and the cursor after the last, and stops at one cut short', function () {
    const output = [
      JSON.stringify({ __CURSOR: 's=a;i=1', __REALTIME_TIMESTAMP: '1765013400000000', SYSLOG_IDENTIFIER: 'sshd', PRIORITY: '6', MESSAGE: 'Accepted key' }),
      JSON.stringify({ __CURSOR: 's=a;i=2', __REALTIME_TIMESTAMP: '1765013401000000', PRIORITY: '3', MESSAGE: [104, 105] }),
      '{"__CURSOR":"s=a;i=3","MESS',
    ].join('\n');
    const read = parseJournalOutput(output, 100);
    assert.deepEqual(read.lines, [
      { time: 1765013400000, stream: 'stdout', line: 'sshd: Accepted key' },
      { time: 1765013401000, stream: 'stderr', line: 'hi' },
    ]);
    assert.equal(read.cursor, 's=a;i=2');
    assert.equal(parseJournalOutput(`${NO_JOURNAL}\n`, 100).noJournal, true);
  });

  it('refuses a cursor that is not one of journalctl and puts only a real one in the command', function () {
    const forged = JSON.stringify({ __CURSOR: "x'; reboot; '", MESSAGE: 'm' });
    assert.deepEqual(parseJournalOutput(forged, 100).lines, []);
    assert.doesNotMatch(journalTailScript("x'; reboot", { asRoot: false }), /reboot/);
    assert.match(journalTailScript('s=ab;i=2', { asRoot: false }), /--after-cursor='s=ab;i=2'/);
  });

  it("goes through sudo only on a droplet, never on an SSH host's own machine", function () {
    assert.match(journalTailScript(undefined, { asRoot: true }), /sudo -n/);
    assert.doesNotMatch(journalTailScript(undefined, { asRoot: false }), /sudo/);
  });
});

describe("a profile's agent log patterns", function () {
  it('takes absolute patterns and ones under the home folder', function () {
    assert.deepEqual(parseLogPatterns(['~/workspace/*.log', '/tmp/agent/*.log']), ['~/workspace/*.log', '/tmp/agent/*.log']);
  });

  for (const bad of [['relative/*.log'], ['/tmp/a\nb.log'], ['/tmp/'], 'not a list', Array(17).fill('/tmp/x.log'), [3]]) {
    it(`refuses ${JSON.stringify(bad).slice(0, 40)}`, function () {
      assert.throws(
        () => parseLogPatterns(bad),
        (error) => isSandboxError(error, 'invalid-input'),
      );
    });
  }

  it('is checked with the rest of the profile', function () {
    const profile = { image: 'x', cpus: 1, memory: 1024 ** 3, pids: 100, sudo: true, logs: ['logs/*.log'] };
    assert.throws(() => validateProfile(profile, { cpus: 4, memory: 8 * 1024 ** 3 }), /log pattern/);
  });
});

describe('gates: the gate.result event', function () {
  it('tells the outcome with figures only', function () {
    const result = {
      taskId: 't1',
      attempt: 2,
      phase: 'failed',
      level: 'L0',
      reason: 'secret test output',
      stats: { files: 3, addedLines: 10, removedLines: 2 },
      l0: { tests: [{ status: 'passed' }, { status: 'failed' }, { status: 'error' }], findings: [] },
      l1: [{ kind: 'regression' }],
    } as unknown as GateResult;
    assert.deepEqual(gateResultEvent('sb1', result, false, 1234), {
      type: 'gate.result',
      sandboxId: 'sb1',
      taskId: 't1',
      attempt: 2,
      level: 'L0',
      outcome: 'failed',
      passed: false,
      durationMs: 1234,
      summary: '3 files (+10 -2); 3 tests, 2 failed; 1 regression',
    });
  });
});

describe("a tasks.json profile's log patterns", function () {
  let root: string;
  beforeEach(() => (root = mkdtempSync(path.join(os.tmpdir(), 'tasks-logs-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('are read into the profile, and a wrong one is named with its profile', async function () {
    writeFileSync(path.join(root, 'tasks.json'), JSON.stringify({ profiles: { agent: { logs: ['~/workspace/*.log'] } } }));
    assert.deepEqual((await readTasksConfig(root)).profiles.agent?.profile.logs, ['~/workspace/*.log']);
    writeFileSync(path.join(root, 'tasks.json'), JSON.stringify({ profiles: { agent: { logs: ['workspace/*.log'] } } }));
    await assert.rejects(readTasksConfig(root), /agent\.logs: The log pattern "workspace\/\*\.log" is not a file path/);
  });
});
