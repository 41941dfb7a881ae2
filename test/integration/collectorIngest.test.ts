import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, promises as fs, statSync } from 'node:fs';
import * as path from 'node:path';
import { CollectorStore, type StoredEvent } from '../../src/core/collector/store';
import { EventLog } from '../../src/core/events/eventLog';
import type { BusEvent } from '../../src/core/events/types';
import type { SandboxRecord } from '../../src/core/model';
import { CLI, TestEnvironment, ensureImage, tempDir, uniqueName, waitFor } from './helpers';

/** `sandbox collector run` as a real process on the test's state dir, its log kept. */
class CollectorProcess {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(stateDir: string) {
    this.child = spawn(process.execPath, [CLI, 'collector', 'run'], {
      env: { ...process.env, AGENT_SANDBOXES_HOME: stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  async started(): Promise<void> {
    await waitFor(() => this.output.includes('Collector started') || this.child.exitCode !== null, 15_000, 'the collector to start');
    assert.equal(this.child.exitCode, null, `the collector exited: ${this.output}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGINT');
    await this.exited;
  }
}

/** A read of the store as any reader does it: read-only, closed at once. */
function readStore<T>(stateDir: string, read: (store: CollectorStore) => T): T | undefined {
  const store = CollectorStore.openForReading(stateDir);
  if (!store) return undefined;
  try {
    return read(store);
  } finally {
    store.close();
  }
}

function count(stateDir: string, sql: string, values: (string | number)[] = []): number {
  return readStore(stateDir, (store) => Number(store.db.get<{ n: number }>(sql, values)?.n ?? 0)) ?? 0;
}

/** An exec.ended line as another process would append it, marked so the test can count it. */
function markedExec(sandboxId: string, marker: string): BusEvent {
  return {
    type: 'exec.ended',
    sandboxId,
    time: new Date().toISOString(),
    execId: marker,
    command: `echo ${marker}`,
    channel: 'agent',
    user: 'agent',
    cwd: '/home/agent/workspace',
    exitCode: 0,
    durationMs: 1,
    timedOut: false,
    cancelled: false,
  };
}

describe('collector: ingest of a real sandbox, across a kill -9', function () {
  this.timeout(240_000);
  const env = new TestEnvironment();
  let sandbox: SandboxRecord;
  let collector: CollectorProcess;

  before(async function () {
    await ensureImage();
    sandbox = await env.controller.create({ name: uniqueName('collect') });
    collector = new CollectorProcess(env.stateDir);
    await collector.started();
  });
  after(async () => {
    await collector?.stop();
    await env.dispose();
  });

  it('stores the events and the exec output of known work, with sandbox, agent and provider, in order', async () => {
    await env.controller.exec(sandbox.id, { command: 'echo first-out' });
    await env.controller.exec(sandbox.id, { command: 'echo second-err >&2; exit 3' });
    await env.controller.exec(sandbox.id, { command: 'printf "a\\nb\\n"' });
    const local = tempDir();
    await fs.writeFile(path.join(local, 'one.txt'), 'one\n');
    await fs.writeFile(path.join(local, 'two.txt'), 'two two\n');
    await env.controller.push(sandbox.id, { localRoot: local, remoteDir: 'pushed' });

    const events = await waitFor(
      () => {
        const stored = readStore(env.stateDir, (store) => store.events({ sandbox: sandbox.name }));
        return stored && stored.filter((e) => e.type === 'exec.ended').length >= 3 && stored.some((e) => e.type === 'sync.ended') ? stored : undefined;
      },
      20_000,
      'the exec and sync events in the store',
    );
    for (const event of events) {
      assert.equal(event.sandboxId, sandbox.id);
      assert.equal(event.sandbox, sandbox.name);
      assert.equal(event.agent, sandbox.agentId);
      assert.equal(event.provider, 'docker');
    }
    const types = events.map((e) => e.type);
    assert.ok(types.indexOf('sandbox.created') < types.indexOf('exec.started'), types.join(' '));
    const ended = events.filter((e) => e.type === 'exec.ended');
    assert.deepEqual(
      ended.map((e) => [e.data.command, e.data.exitCode]),
      [
        ['echo first-out', 0],
        ['echo second-err >&2; exit 3', 3],
        ['printf "a\\nb\\n"', 0],
      ],
    );
    assert.ok(ended.every((e, i) => i === 0 || (e.id > ended[i - 1]!.id && e.time >= ended[i - 1]!.time)));
    const sync = events.find((e) => e.type === 'sync.ended')!;
    assert.equal(sync.data.direction, 'push');
    assert.equal(sync.data.files, 2);

    const logs = await waitFor(
      () => {
        const lines = readStore(env.stateDir, (store) => store.logs(sandbox.id, { source: 'exec' }));
        return lines && lines.length >= 4 ? lines : undefined;
      },
      10_000,
      'the exec output in the store',
    );
    assert.deepEqual(
      logs.map((l) => [l.stream, l.line]),
      [
        ['stdout', 'first-out'],
        ['stderr', 'second-err'],
        ['stdout', 'a'],
        ['stdout', 'b'],
      ],
    );
    assert.equal(
      readStore(env.stateDir, (store) => store.sandboxes().find((s) => s.sandboxId === sandbox.id)?.name),
      sandbox.name,
    );
  });

  it('loses and doubles nothing when killed with kill -9 while events and journal lines keep coming', async () => {
    const log = new EventLog(env.stateDir);
    const total = 1500;
    const perStep = 50;
    let appended = 0;
    const appendStep = async () => {
      for (let i = 0; i < perStep; i++) {
        const marker = `k-${++appended}`;
        log.append(markedExec(sandbox.id, marker));
        await env.store.appendJournal(sandbox.id, {
          time: new Date().toISOString(),
          kind: 'exec',
          command: ['echo', marker],
          exitCode: 0,
          durationMs: 1,
          timedOut: false,
          cancelled: false,
          stdout: `${marker}\n`,
          stderr: '',
          truncated: false,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 40));
    };
    const markedEvents = () => count(env.stateDir, "SELECT count(*) AS n FROM events WHERE type = 'exec.ended' AND json_extract(data, '$.execId') LIKE 'k-%'");
    // Appending, until the collector has stored some of it: then it is killed mid-way.
    while (appended < total / 2 || markedEvents() === 0) await appendStep();
    collector.child.kill('SIGKILL');
    await collector.exited;
    // The rest is appended while none runs (the store is not read now: the kill may have left a
    // transaction half-written, for the next writer to roll back).
    assert.ok(appended < total);
    while (appended < total) await appendStep();
    collector = new CollectorProcess(env.stateDir);
    await collector.started();

    await waitFor(() => markedEvents() >= total || undefined, 30_000, `${total} marked events in the store`);
    // A last round more: anything doubled would show now.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(markedEvents(), total);
    assert.equal(
      count(env.stateDir, "SELECT count(DISTINCT json_extract(data, '$.execId')) AS n FROM events WHERE json_extract(data, '$.execId') LIKE 'k-%'"),
      total,
    );
    assert.equal(count(env.stateDir, "SELECT count(*) AS n FROM logs WHERE sandbox_id = ? AND source = 'exec' AND line LIKE 'k-%'", [sandbox.id]), total);
    assert.equal(count(env.stateDir, "SELECT count(DISTINCT line) AS n FROM logs WHERE sandbox_id = ? AND line LIKE 'k-%'", [sandbox.id]), total);
    // In the order they were appended.
    const order = readStore(env.stateDir, (store) =>
      store.db
        .all<{ marker: string }>("SELECT json_extract(data, '$.execId') AS marker FROM events WHERE json_extract(data, '$.execId') LIKE 'k-%' ORDER BY id")
        .map((row) => Number(row.marker.slice(2))),
    )!;
    assert.deepEqual(
      order,
      Array.from({ length: total }, (_, i) => i + 1),
    );
    const offset = readStore(env.stateDir, (store) => store.offset('events'))!;
    assert.equal(offset.offset, statSync(log.file).size);
  });

  it('skips a torn line, stores what follows it, and reports it in `sandbox collector status`', async () => {
    const before = count(env.stateDir, 'SELECT count(*) AS n FROM problems');
    appendFileSync(path.join(env.stateDir, 'events.jsonl'), '{"type":"exec.ended","sandboxId":"' + sandbox.id + '","comm\n');
    new EventLog(env.stateDir).append(markedExec(sandbox.id, 'after-tear'));
    await waitFor(
      () => count(env.stateDir, "SELECT count(*) AS n FROM events WHERE json_extract(data, '$.execId') = 'after-tear'") === 1 || undefined,
      10_000,
      'the event after the torn line',
    );
    assert.equal(count(env.stateDir, 'SELECT count(*) AS n FROM problems'), before + 1);

    const status = await env.cli(['collector', 'status', '--json']);
    assert.equal(status.code, 0, status.stderr);
    const parsed = JSON.parse(status.stdout) as {
      running: boolean;
      holder: { pid: number; role: string };
      problems: { source: string; message: string }[];
      counts: Record<string, number>;
    };
    assert.equal(parsed.running, true);
    assert.equal(parsed.holder.pid, collector.child.pid);
    assert.equal(parsed.holder.role, 'collector run');
    assert.match(parsed.problems[0]!.message, /torn line .* of .*events\.jsonl was skipped/);
    assert.ok(parsed.counts.events! > 1500);
    const human = await env.cli(['collector', 'status']);
    assert.match(human.stdout, /Recent problems:\n .*torn line/);
    assert.equal((collector.output.match(/torn line/g) ?? []).length, 1, 'logged once');
  });

  it('refuses a second collector in one sentence while one runs', async () => {
    assert.equal(collector.child.exitCode ?? collector.child.signalCode, null, 'the collector runs');
    const second = await env.cli(['collector', 'run']);
    assert.equal(second.code, 5);
    assert.match(
      second.stderr.trim(),
      new RegExp(
        `^sandbox: A collector already runs for this state dir \\(pid ${collector.child.pid}, since [^)]+\\); stop it \\(Ctrl-C where it runs\\) first\\.$`,
      ),
    );
  });

  it('answers `sandbox events --type exec. --json` and a follower with -f', async () => {
    const result = await env.cli(['events', '--type', 'exec.', '--sandbox', sandbox.name, '--json', '--limit', '5000']);
    assert.equal(result.code, 0, result.stderr);
    const events = JSON.parse(result.stdout) as StoredEvent[];
    assert.ok(events.length > 1500);
    assert.ok(events.every((e) => e.type.startsWith('exec.') && e.sandbox === sandbox.name));
    assert.ok(events.some((e) => e.type === 'exec.started'));
    assert.equal(events.at(-1)!.data.execId, 'after-tear');

    const follower = spawn(process.execPath, [CLI, 'events', '-f', '--json', '--type', 'exec.ended', '--since', '1m', '--limit', '1'], {
      env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let lines = '';
    follower.stdout.on('data', (chunk: Buffer) => (lines += chunk.toString()));
    try {
      await waitFor(() => lines.includes('after-tear') || undefined, 10_000, 'the newest event');
      await env.controller.exec(sandbox.id, { command: 'echo followed' });
      await waitFor(() => lines.includes('echo followed') || undefined, 10_000, 'a new event followed');
      const objects = lines
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as StoredEvent);
      assert.deepEqual(
        objects.map((e) => e.data.command),
        ['echo after-tear', 'echo followed'],
      );
    } finally {
      follower.kill('SIGINT');
    }
  });

  it('runs in the daemon, which a collector alone then refuses to share, and goes on from where the last one stopped', async () => {
    await collector.stop();
    assert.equal(await collector.exited, 0);
    const started = await env.cli(['daemon', 'start']);
    assert.equal(started.code, 0, started.stderr);
    try {
      const status = await waitFor(
        async () => {
          const result = await env.cli(['collector', 'status', '--json']);
          return result.code === 0 ? (JSON.parse(result.stdout) as { holder: { role: string; pid: number } }) : undefined;
        },
        15_000,
        'the daemon to run the collector',
      );
      assert.equal(status.holder.role, 'daemon');
      const refused = await env.cli(['collector', 'run']);
      assert.equal(refused.code, 5);
      assert.match(
        refused.stderr.trim(),
        /^sandbox: The daemon \(pid \d+\) already runs the collector for this state dir; stop it with `sandbox daemon stop` to run one alone\.$/,
      );
      new EventLog(env.stateDir).append(markedExec(sandbox.id, 'in-daemon'));
      await waitFor(
        () => count(env.stateDir, "SELECT count(*) AS n FROM events WHERE json_extract(data, '$.execId') = 'in-daemon'") === 1 || undefined,
        10_000,
        'the daemon to ingest',
      );
      assert.equal(count(env.stateDir, "SELECT count(*) AS n FROM events WHERE json_extract(data, '$.execId') LIKE 'k-%'"), 1500);
    } finally {
      const stopped = await env.cli(['daemon', 'stop']);
      assert.equal(stopped.code, 0, stopped.stderr);
    }
  });

  it('tells a state dir with no collector ever run how to start one', async () => {
    const empty = new TestEnvironment();
    try {
      const result = await empty.cli(['events']);
      assert.equal(result.code, 3);
      assert.match(result.stderr, /No collector has run for this state dir.*`sandbox daemon start` or `sandbox collector run`/);
    } finally {
      await empty.dispose();
    }
  });
});
