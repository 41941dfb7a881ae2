import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxController } from '../../../../src/core/controller';
import { isSandboxError } from '../../../../src/core/errors';
import { EventBus } from '../../../../src/core/events/bus';
import type { BusEvent } from '../../../../src/core/events/types';
import { StateStore } from '../../../../src/core/store/stateStore';
import { FakeProvider } from '../fakeProvider';

/** An event without its time, for comparing. */
const untimed = ({ time: _time, ...event }: BusEvent) => event;

describe('events of the sandbox services, over a fake provider', () => {
  let dir: string;
  let store: StateStore;
  let provider: FakeProvider;
  let bus: EventBus;
  let heard: BusEvent[];
  let controller: SandboxController;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'service-events-test-'));
    store = new StateStore(dir);
    provider = new FakeProvider();
    bus = new EventBus();
    heard = [];
    bus.onAny((event) => void heard.push(event));
    controller = new SandboxController({ store, providers: { docker: provider }, events: bus });
  });

  afterEach(() => {
    controller.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('tells a sandbox’s life on the bus and in events.jsonl, and journals it as before', async () => {
    assert.equal(controller.events, bus, 'the bus given is the controller’s');
    const record = await controller.create({ name: 'ev', agentId: 'agent-1' });
    const providerRef = record.providerRef!;
    assert.deepEqual(
      (await store.readJournal(record.id)).map(({ time: _time, ...entry }) => entry),
      [{ kind: 'lifecycle', action: 'created', detail: `docker ${providerRef.slice(0, 12)}` }],
    );
    await controller.stop('ev');
    await controller.start('ev');
    assert.deepEqual(
      (await store.readJournal(record.id)).map((entry) => (entry.kind === 'lifecycle' ? entry.action : entry.kind)),
      ['created', 'stopped', 'started'],
    );
    await controller.delete('ev');

    const told = heard.map(untimed);
    assert.deepEqual(told, [
      { type: 'sandbox.created', sandboxId: record.id, name: 'ev', agentId: 'agent-1', provider: 'docker', providerRef, image: record.profile.image },
      { type: 'sandbox.ready', sandboxId: record.id, name: 'ev', durationMs: (heard[1] as { durationMs: number }).durationMs },
      { type: 'sandbox.stopped', sandboxId: record.id, name: 'ev' },
      { type: 'sandbox.started', sandboxId: record.id, name: 'ev' },
      { type: 'sandbox.deleted', sandboxId: record.id, name: 'ev', provider: 'docker' },
    ]);
    assert.deepEqual(await store.readJournal(record.id), [], 'a deleted sandbox keeps no journal');

    // Another process reads the same events from the state dir.
    await bus.settled();
    assert.deepEqual((await controller.eventLog.read(0)).events, heard);
  });

  it('tells a failed create, with its error code, and leaves no journal', async () => {
    const first = await controller.create({ name: 'taken' });
    heard.length = 0;
    await assert.rejects(controller.create({ name: 'taken' }), (error) => isSandboxError(error, 'conflict'));
    assert.equal(heard.length, 1);
    const failed = heard[0]!;
    assert.equal(failed.type, 'sandbox.createFailed');
    assert.ok(
      failed.type === 'sandbox.createFailed' && failed.errorCode === 'conflict' && /already exists/.test(failed.error) && failed.sandboxId !== first.id,
    );
    assert.deepEqual(await store.readJournal(failed.sandboxId), []);
  });

  it('fails an operation whose journal cannot be written, as before, while events.jsonl goes on', async () => {
    const record = await controller.create({ name: 'nojournal' });
    rmSync(path.join(dir, 'journal'), { recursive: true, force: true });
    writeFileSync(path.join(dir, 'journal'), 'not a folder');
    await assert.rejects(controller.stop('nojournal'), /EEXIST|ENOTDIR/);
    await bus.settled();
    const logged = (await controller.eventLog.read(0)).events.map((event) => event.type);
    assert.deepEqual(logged, ['sandbox.created', 'sandbox.ready', 'sandbox.stopped']);
    assert.equal(record.name, 'nojournal');
  });

  it('takes the journal and the event log off a bus it was given when disposed', () => {
    assert.equal(bus.size, 3);
    controller.dispose();
    assert.equal(bus.size, 1, 'only the test’s own subscriber is left');
  });
});
