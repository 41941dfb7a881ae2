import * as assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EVENTS_SOURCE, JournalIngester } from '../../../../src/core/collector/journalIngest';
import { readNewLines } from '../../../../src/core/collector/lineReader';
import { CollectorStore } from '../../../../src/core/collector/store';
import { EventLog } from '../../../../src/core/events/eventLog';
import type { BusEvent } from '../../../../src/core/events/types';

function execEnded(sandboxId: string, n: number): BusEvent {
  return {
    type: 'exec.ended',
    sandboxId,
    time: new Date(1_800_000_000_000 + n * 1000).toISOString(),
    execId: `e${n}`,
    command: `echo ${n}`,
    channel: 'agent',
    user: 'agent',
    cwd: '/w',
    exitCode: 0,
    durationMs: n,
    timedOut: false,
    cancelled: false,
  };
}

const created: BusEvent = {
  type: 'sandbox.created',
  sandboxId: 'sb1',
  time: '2027-01-15T08:00:00.000Z',
  name: 'alpha',
  agentId: 'claude',
  provider: 'docker',
  providerRef: 'c1',
  image: 'img',
};

describe('collector: journal ingest', () => {
  let dir: string;
  let store: CollectorStore;
  let logged: string[];
  const ingester = (maxReadBytes?: number) =>
    track(new JournalIngester({ stateRoot: dir, log: (line) => logged.push(line), fullLookMs: 0, ...(maxReadBytes ? { maxReadBytes } : {}) }));
  const made: JournalIngester[] = [];
  const track = (part: JournalIngester) => (made.push(part), part);
  /** One round, stored as the collector stores it. */
  const round = async (part: JournalIngester) => {
    const batch = await part.collect(store);
    store.ingest(batch);
    return batch;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'collector-ingest-'));
    store = CollectorStore.openForWriting(dir);
    logged = [];
  });
  afterEach(() => {
    for (const part of made.splice(0)) part.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores events with the sandbox, agent and provider its sandbox.created told, and marks a deleted sandbox', async () => {
    const log = new EventLog(dir);
    log.append(created);
    log.append(execEnded('sb1', 1));
    log.append({ type: 'task.started', sandboxId: 'sb1', time: '2027-01-15T08:00:02.000Z', taskId: 't7', attempt: 1 });
    log.append({ type: 'sandbox.deleted', sandboxId: 'sb1', time: '2027-01-15T08:00:03.000Z', name: 'alpha', provider: 'docker' });
    await round(ingester());
    const events = store.events();
    assert.deepEqual(
      events.map((e) => [e.type, e.sandbox, e.agent, e.provider, e.task]),
      [
        ['sandbox.created', 'alpha', 'claude', 'docker', undefined],
        ['exec.ended', 'alpha', 'claude', 'docker', undefined],
        ['task.started', 'alpha', 'claude', 'docker', 't7'],
        ['sandbox.deleted', 'alpha', 'claude', 'docker', undefined],
      ],
    );
    assert.equal(events[1]!.data.command, 'echo 1');
    assert.equal(events[1]!.time, 1_800_000_001_000);
    const [known] = store.sandboxes();
    assert.equal(known!.name, 'alpha');
    assert.equal(known!.deleted, Date.parse('2027-01-15T08:00:03.000Z'));
  });

  it('skips a torn line, keeps the whole event written after a tear on the same line, records each in problems and logs it once', async () => {
    const file = path.join(dir, 'events.jsonl');
    appendFileSync(file, JSON.stringify(execEnded('sb1', 1)) + '\n');
    appendFileSync(file, '{"type":"exec.ended","sandboxId":"sb1","ti\n'); // cut midway, then a newline
    appendFileSync(file, 'not json at all\n');
    appendFileSync(file, '{"type":"exec.started","sandb' + JSON.stringify(execEnded('sb1', 2)) + '\n'); // a tear, then a whole line
    appendFileSync(file, JSON.stringify(execEnded('sb1', 3)).slice(0, 30)); // still being written: left for later
    const part = ingester();
    await round(part);
    assert.deepEqual(
      store.events().map((e) => e.data.execId),
      ['e1', 'e2'],
    );
    const problems = store.problems();
    assert.equal(problems.length, 3);
    assert.ok(problems.every((p) => p.source === EVENTS_SOURCE && /torn line .* was skipped/.test(p.message)));
    assert.equal(logged.length, 3);
    appendFileSync(file, JSON.stringify(execEnded('sb1', 3)).slice(30) + '\n');
    await round(part);
    assert.deepEqual(
      store.events().map((e) => e.data.execId),
      ['e1', 'e2', 'e3'],
    );
    assert.equal(store.problems().length, 3, 'nothing reported twice');
    assert.equal(logged.length, 3);
  });

  it('reads across rotations in bounded steps, and a round never stored is read again: nothing lost, nothing doubled', async () => {
    const log = new EventLog(dir, { maxBytes: 3000 });
    let appended = 0;
    const append = (count: number) => {
      for (let i = 0; i < count; i++) log.append(execEnded('sb1', ++appended));
    };
    append(5);
    await round(ingester(700)); // a first read of a few lines only
    append(8); // past 3000 bytes: rotated
    // A collector killed after collecting, before storing: its batch is lost, its offsets too.
    await ingester(700).collect(store);
    for (let i = 0; i < 30; i++) {
      await round(ingester(700)); // a new collector each round: all it knows is in the store
      if (i % 3 === 0) append(4);
    }
    assert.ok(appended > 24, 'rotated at least twice');
    while (store.offset(EVENTS_SOURCE)!.offset < (await log.end()).offset || (await ingester(700).collect(store)).events!.length > 0) {
      await round(ingester(700));
    }
    const ids = store.events({ limit: 10_000 }).map((e) => e.data.execId);
    assert.deepEqual(store.problems(), []);
    assert.equal(ids.length, appended);
    assert.deepEqual(
      ids,
      Array.from({ length: appended }, (_, i) => `e${i + 1}`),
    );
  });

  it('reads the rotated file on its first read: the history from before the collector first ran', async () => {
    const log = new EventLog(dir, { maxBytes: 1500 });
    for (let n = 1; n <= 12; n++) log.append(execEnded('sb1', n));
    const read = await readNewLines({ source: 'events', file: log.file, rotatedFile: log.rotatedFile }, undefined);
    assert.deepEqual(
      read.lines.map((line) => line.value.execId),
      Array.from({ length: 12 }, (_, i) => `e${i + 1}`),
    );
  });

  it('reads many journals with long backlogs over rounds without calling a whole line too long', async () => {
    const journal = path.join(dir, 'journal');
    mkdirSync(journal);
    // Ten journals of about 1.2 MiB, lines of about 16 KB: the round's budget runs out partway.
    const line = (n: number) =>
      JSON.stringify({
        time: new Date(1_800_000_000_000 + n).toISOString(),
        kind: 'exec',
        command: 'x',
        exitCode: 0,
        durationMs: 1,
        timedOut: false,
        cancelled: false,
        stdout: `${n} ${'y'.repeat(16_000)}\n`,
        stderr: '',
        truncated: false,
      }) + '\n';
    const perJournal = 75;
    for (let j = 0; j < 10; j++) appendFileSync(path.join(journal, `sb${j}.jsonl`), Array.from({ length: perJournal }, (_, n) => line(n)).join(''));
    const part = ingester();
    for (let i = 0; i < 6; i++) await round(part);
    for (let j = 0; j < 10; j++) assert.equal(store.logs(`sb${j}`, { limit: 1000 }).length, perJournal, `sb${j}`);
    assert.deepEqual(store.problems(), []);
  });

  it("stores each exec's output from the journals as log lines, and forgets the offset of a journal that vanished", async () => {
    const journal = path.join(dir, 'journal');
    mkdirSync(journal);
    const entry = (n: number) => ({
      time: new Date(1_800_000_000_000 + n).toISOString(),
      kind: 'exec',
      command: ['sh', '-c', 'x'],
      exitCode: 0,
      durationMs: 1,
      timedOut: false,
      cancelled: false,
      stdout: `out ${n}\nmore ${n}\n`,
      stderr: n === 2 ? 'warn\n' : '',
      truncated: false,
    });
    appendFileSync(path.join(journal, 'sb1.jsonl'), JSON.stringify(entry(1)) + '\n' + JSON.stringify({ time: 'x', kind: 'lifecycle', action: 'start' }) + '\n');
    appendFileSync(path.join(journal, 'sb2.jsonl'), JSON.stringify(entry(2)) + '\n');
    await round(ingester());
    assert.deepEqual(
      store.logs('sb1').map((l) => [l.source, l.stream, l.line]),
      [
        ['exec', 'stdout', 'out 1'],
        ['exec', 'stdout', 'more 1'],
      ],
    );
    assert.deepEqual(
      store.logs('sb2').map((l) => [l.stream, l.line]),
      [
        ['stdout', 'out 2'],
        ['stdout', 'more 2'],
        ['stderr', 'warn'],
      ],
    );
    assert.deepEqual(
      store.offsets('journal:').map((o) => o.source),
      ['journal:sb1', 'journal:sb2'],
    );
    rmSync(path.join(journal, 'sb2.jsonl'));
    await round(ingester());
    assert.deepEqual(
      store.offsets('journal:').map((o) => o.source),
      ['journal:sb1'],
    );
    assert.equal(store.logs('sb2').length, 3, 'what was read stays');
  });
});
