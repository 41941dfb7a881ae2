import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventBus } from '../../../../src/core/events/bus';
import { serializeEvent } from '../../../../src/core/events/eventLog';
import { subscribeJournal } from '../../../../src/core/events/journalSubscriber';
import { summarizeCommand, type EventInput } from '../../../../src/core/events/types';
import { StateStore } from '../../../../src/core/store/stateStore';

const TIME = '2024-05-01T10:00:00.000Z';
const base = { sandboxId: 'j1', time: TIME };

describe('journal subscriber', () => {
  let dir: string;
  let store: StateStore;
  let bus: EventBus;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'journal-subscriber-test-'));
    store = new StateStore(dir);
    bus = new EventBus();
    subscribeJournal(bus, store);
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the journal lines the journal always had, and nothing for the events it never kept', async () => {
    const inputs: EventInput[] = [
      { ...base, type: 'sandbox.created', name: 'box', agentId: 'a', provider: 'docker', providerRef: '0123456789abcdef0123', image: 'img' },
      { ...base, type: 'sandbox.ready', name: 'box', durationMs: 10 },
      { ...base, type: 'exec.started', execId: 'e1', command: 'echo hi', channel: 'agent', user: 'agent', cwd: '/w', detached: false },
      {
        ...base,
        type: 'exec.ended',
        execId: 'e1',
        command: 'echo hi',
        channel: 'agent',
        user: 'agent',
        cwd: '/w',
        envKeys: ['TOKEN'],
        exitCode: 0,
        durationMs: 7,
        timedOut: false,
        cancelled: false,
        localOnly: { command: ['echo', 'hi'], stdout: 'hi\n', stderr: '', truncated: false },
      },
      {
        ...base,
        type: 'sync.ended',
        direction: 'pull',
        local: '/l',
        remote: '/r',
        files: 2,
        bytes: 9,
        deleted: 0,
        durationMs: 3,
        localOnly: { details: { direction: 'pull', local: '/l', remote: '/r', files: 2, bytes: 9, deleted: 0, durationMs: 3 } },
      },
      { ...base, type: 'sandbox.stopped', name: 'box' },
      { ...base, type: 'sandbox.started', name: 'box' },
      { ...base, type: 'sandbox.adopted', name: 'box', provider: 'docker', providerRef: 'ref' },
      { ...base, type: 'sandbox.failed', name: 'box', reason: 'lost' },
    ];
    for (const input of inputs) await bus.emit(input);
    assert.deepEqual(await store.readJournal('j1'), [
      { time: TIME, kind: 'lifecycle', action: 'created', detail: 'docker 0123456789ab' },
      {
        time: TIME,
        kind: 'exec',
        command: ['echo', 'hi'],
        cwd: '/w',
        user: 'agent',
        envKeys: ['TOKEN'],
        exitCode: 0,
        durationMs: 7,
        timedOut: false,
        cancelled: false,
        stdout: 'hi\n',
        stderr: '',
        truncated: false,
      },
      { time: TIME, kind: 'sync', direction: 'pull', local: '/l', remote: '/r', files: 2, bytes: 9, deleted: 0, durationMs: 3 },
      { time: TIME, kind: 'lifecycle', action: 'stopped' },
      { time: TIME, kind: 'lifecycle', action: 'started' },
      { time: TIME, kind: 'lifecycle', action: 'adopted', detail: 'found on the provider without a record' },
    ]);

    // Neither a delete nor a failed create leaves a journal behind.
    await bus.emit({ sandboxId: 'gone', type: 'sandbox.deleted', name: 'gone', provider: 'docker' });
    await bus.emit({ sandboxId: 'gone', type: 'sandbox.createFailed', name: 'gone', provider: 'docker', error: 'x', durationMs: 1 });
    assert.deepEqual(await store.readJournal('gone'), []);
  });

  it('keeps a push’s whole summary and a failed sync’s error, as before', async () => {
    const push = {
      direction: 'push',
      local: '/l',
      remote: '/r',
      files: 1,
      bytes: 4,
      deleted: 0,
      unchanged: 3,
      durationMs: 2,
      skipped: [],
      overwrittenInSandbox: [],
      linksOutside: [],
    };
    await bus.emit({
      ...base,
      type: 'sync.ended',
      direction: 'push',
      local: '/l',
      remote: '/r',
      files: 1,
      bytes: 4,
      deleted: 0,
      durationMs: 2,
      localOnly: { details: push },
    });
    const failed = { direction: 'push', local: '/l', remote: '/r', files: 0, bytes: 0, durationMs: 0, error: 'The folder is gone.' };
    await bus.emit({
      ...base,
      type: 'sync.ended',
      direction: 'push',
      local: '/l',
      remote: '/r',
      files: 0,
      bytes: 0,
      deleted: 0,
      durationMs: 0,
      error: 'The folder is gone.',
      localOnly: { details: failed },
    });
    assert.deepEqual(await store.readJournal('j1'), [
      { time: TIME, kind: 'sync', ...push },
      { time: TIME, kind: 'sync', ...failed },
    ]);
  });

  it('fails the emitter when the journal cannot be written', async () => {
    writeFileSync(path.join(dir, 'journal'), 'not a folder'); // the journal folder cannot be made
    await assert.rejects(bus.emit({ ...base, type: 'sandbox.started', name: 'box' }), /EEXIST|ENOTDIR/);
    // An event the journal does not keep is not in its way.
    await bus.emit({ ...base, type: 'sandbox.ready', name: 'box', durationMs: 1 });
  });

  it('never lets env values, output or secret-looking arguments out of the process', () => {
    const command = summarizeCommand(['sh', '-c', 'API_TOKEN=hunter2 curl -H "Authorization: Bearer abc.def" --password=pw1 --token tk2 https://x']);
    for (const secret of ['hunter2', 'abc.def', 'pw1', 'tk2']) assert.ok(!command.includes(secret), command);
    assert.match(command, /^sh -c API_TOKEN=\*\*\* curl/);
    const line = serializeEvent({
      ...base,
      type: 'exec.ended',
      execId: 'e1',
      command,
      channel: 'ssh',
      user: 'agent',
      cwd: '/w',
      envKeys: ['SECRET'],
      exitCode: 1,
      durationMs: 1,
      timedOut: false,
      cancelled: false,
      localOnly: { command: ['cat', 'private'], stdout: 'private output', stderr: 'private error', truncated: false },
    }).toString('utf8');
    assert.ok(!line.includes('private'), line);
    assert.ok(line.startsWith('{"type":"exec.ended"') && line.endsWith('\n'));
    assert.ok(summarizeCommand('x'.repeat(1000)).length <= 200);
  });

  it('journals a budget alert and a time-to-live action for the sandbox concerned, and nothing for a month-wide alert', async () => {
    const alert = { type: 'cost.alert', percent: 80, month: '2024-05', budgetUsd: 50, spentUsd: 30, committedUsd: 41, message: 'Used 80%.' } as const;
    await bus.emit({ ...base, ...alert });
    await bus.emit({ ...base, ...alert, sandboxId: '' });
    await bus.emit({ ...base, type: 'cost.expired', name: 'box', action: 'hibernate', overdueMs: 1000, reason: 'box passed its time-to-live.' });
    await bus.emit({ ...base, sandboxId: '', type: 'cost.expired', name: 'gone', action: 'destroy', overdueMs: 1000, reason: 'gone.' });
    assert.deepEqual(await store.readJournal('j1'), [
      { time: TIME, kind: 'lifecycle', action: 'budget alert', detail: 'Used 80%.' },
      { time: TIME, kind: 'lifecycle', action: 'time-to-live: hibernating', detail: 'box passed its time-to-live.' },
    ]);
  });
});
