import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NO_JOURNAL } from '../../../../src/core/collector/journalTail';
import { logSourceKey, SandboxLogsPart, type SandboxLogsController } from '../../../../src/core/collector/sandboxLogs';
import { CollectorStore } from '../../../../src/core/collector/store';
import type { ExecRequest, ExecResult, SandboxRecord } from '../../../../src/core/model';
import type { LogLine } from '../../../../src/core/providers/provider';
import { recordOf } from '../fakeProvider';

function result(stdout: string): ExecResult {
  return { exitCode: 0, durationMs: 1, stdout, stderr: '', stdoutBytes: stdout.length, stderrBytes: 0, truncated: false, timedOut: false, cancelled: false };
}

const entry = (cursor: string, message: string) =>
  JSON.stringify({ __CURSOR: cursor, __REALTIME_TIMESTAMP: '1765013400000000', PRIORITY: '6', MESSAGE: message });

/** A controller whose machines answer from scripts: the journal's, the files', the engine's. */
class ScriptedController {
  readonly commands: ExecRequest[] = [];
  journal: (command: string) => string = () => '';
  files: (command: string) => string = () => '';
  engine: (since: string | undefined) => LogLine[] = () => [];
  failEngine?: Error;

  constructor(readonly records: SandboxRecord[]) {}

  get controller(): SandboxLogsController {
    return {
      store: { listRecords: async () => this.records },
      provider: () => ({
        logs: (_ref: string, options: { since?: string }) => {
          const lines = this.engine(options.since);
          const fail = this.failEngine;
          return (async function* () {
            if (fail) throw fail;
            yield* lines;
          })();
        },
      }),
      inspectExec: async (_id: string, request: ExecRequest) => {
        this.commands.push(request);
        const command = request.command as string;
        return result(command.includes('journalctl') ? this.journal(command) : this.files(command));
      },
    } as unknown as SandboxLogsController;
  }
}

describe('collector: the sandbox logs part', function () {
  let root: string;
  let store: CollectorStore;
  const signal = new AbortController().signal;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'collector-part-'));
    store = CollectorStore.openForWriting(root);
  });
  afterEach(() => {
    store.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("reads a droplet's journal from the cursor stored with the last round's lines, as its user through sudo", async function () {
    const droplet = recordOf('d1', 'running', { provider: 'digitalocean' });
    const scripted = new ScriptedController([droplet]);
    scripted.journal = (command) =>
      command.includes("--after-cursor='s=1;i=2'") ? entry('s=1;i=3', 'third') : `${entry('s=1;i=1', 'first')}\n${entry('s=1;i=2', 'second')}`;
    const part = new SandboxLogsPart({ controller: scripted.controller });
    store.ingest(await part.collect(store, signal));
    // A new part (a restarted collector) goes on from the stored cursor.
    store.ingest(await new SandboxLogsPart({ controller: scripted.controller }).collect(store, signal));
    assert.deepEqual(
      store.logs('d1', { source: 'system' }).map((l) => l.line),
      ['first', 'second', 'third'],
    );
    assert.equal(store.offset(logSourceKey('d1', 'system'))?.fileId, 's=1;i=3');
    assert.equal(scripted.commands[0]!.user, 'agent');
    assert.match(scripted.commands[0]!.command as string, /sudo -n/);
  });

  it('tails /var/log/syslog as the system log of a machine without a journal', async function () {
    const host = recordOf('h1', 'running', { provider: 'ssh', placement: { host: 'box', kind: 'directory' } });
    const scripted = new ScriptedController([host]);
    scripted.journal = () => NO_JOURNAL;
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    // The file as the script reads it: from the offset the collector hands it for the file's identity.
    scripted.files = (command) => {
      if (!command.includes("'/var/log/syslog'")) return '';
      const from = /T=' 1:2=(\d+) /.exec(command)?.[1];
      const data = from === undefined ? 'boot ok\n' : 'boot ok\n'.slice(Number(from) - 1);
      return `F 1:2 8 ${from ?? 0} ${b64('/var/log/syslog')}\n${b64(data)}\n`;
    };
    const part = new SandboxLogsPart({ controller: scripted.controller });
    store.ingest(await part.collect(store, signal));
    store.ingest(await part.collect(store, signal));
    assert.deepEqual(
      store.logs('h1', { source: 'system' }).map((l) => l.line),
      ['boot ok'],
    );
    assert.doesNotMatch(scripted.commands[0]!.command as string, /sudo/, "an SSH host's own journal is read as its user");
    assert.deepEqual(store.offset(logSourceKey('h1', 'file:/var/log/syslog')), {
      source: logSourceKey('h1', 'file:/var/log/syslog'),
      fileId: '1:2',
      offset: 8,
    });
  });

  it('stores a lasting problem once, and still reads the other sources when the log patterns of a record are wrong', async function () {
    const box = recordOf('b1', 'running', { profile: { ...recordOf('x', 'running').profile, logs: ['relative/*.log'] } });
    const scripted = new ScriptedController([box]);
    scripted.engine = () => [{ time: '2026-12-06T09:30:00.000000001Z', stream: 'stdout', text: 'hello' }];
    const part = new SandboxLogsPart({ controller: scripted.controller });
    store.ingest(await part.collect(store, signal));
    assert.deepEqual(
      store.logs('b1').map((l) => l.line),
      ['hello'],
    );
    assert.equal(scripted.commands.length, 0, 'no file is read by a pattern that was not checked');
    scripted.failEngine = new Error('engine gone');
    store.ingest(await part.collect(store, signal));
    store.ingest(await part.collect(store, signal));
    assert.deepEqual(
      store.problems().map((p) => p.message.replace(/:.*/, '')),
      ['The logs of box-b1 could not be read', 'The log files of box-b1 are not read'],
    );
  });
});
