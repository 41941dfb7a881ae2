import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ListRootsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import { ensureSandboxImage } from '../../src/core/images';
import { CLI, TestEnvironment, docker, rootExec, tempDir, uniqueName, waitFor } from './helpers';

/** The text parts of a tool result, joined. */
function textOf(result: CallToolResult): string {
  return result.content.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

describe('sandbox mcp', function () {
  const env = new TestEnvironment();
  const root = tempDir('mcp-root-');
  const outside = tempDir('mcp-outside-');
  const plainName = uniqueName('mcp');
  const desktopName = uniqueName('mcpdesk');
  /** A sandbox of another state dir, which the server must not reach. */
  const other = new TestEnvironment();
  const otherName = uniqueName('mcpother');
  let client: Client;
  let serverLog = '';
  let plainContainer: string;

  /** A tool call that must succeed: its result, parsed when it is JSON. */
  async function call(name: string, args: Record<string, unknown>): Promise<CallToolResult> {
    const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
    assert.ok(!result.isError, `${name} failed: ${textOf(result)}`);
    return result;
  }
  async function callJson<T = Record<string, unknown>>(name: string, args: Record<string, unknown>): Promise<T> {
    return JSON.parse(textOf(await call(name, args))) as T;
  }
  /** A tool call that must be refused: its one sentence. */
  async function refused(name: string, args: Record<string, unknown>): Promise<string> {
    const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
    assert.equal(result.isError, true, `${name} was not refused: ${textOf(result)}`);
    return textOf(result);
  }

  before(async function () {
    this.timeout(20 * 60_000); // an image build, when CI has not built them
    await Promise.all([ensureSandboxImage(docker, {}), ensureSandboxImage(docker, { desktop: true })]);
    await fs.mkdir(path.join(root, 'project'));
    await fs.writeFile(path.join(root, 'project', 'data.txt'), 'from the host\n');
    await fs.symlink(outside, path.join(root, 'escape'));
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', '--root', root],
      env: { ...(process.env as Record<string, string>), AGENT_SANDBOXES_HOME: env.stateDir },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => (serverLog += chunk.toString()));
    client = new Client({ name: 'mcp-test', version: '1.0.0' });
    await client.connect(transport);
    // Both sandboxes at once, through the server: a plain one without sudo, and a desktop.
    const [plain] = await Promise.all([
      callJson<{ name: string; id: string; profile: { sudo: boolean } }>('sandbox_create', { name: plainName, sudo: false, workspace: 'project' }),
      callJson('sandbox_create', { name: desktopName, desktop: '1024x768' }),
      other.controller.create({ name: otherName }),
    ]);
    assert.equal(plain.profile.sudo, false);
    plainContainer = (await env.controller.resolve(plain.id)).providerRef!;
  });

  after(async function () {
    this.timeout(60_000);
    await client?.close();
    await env.dispose();
    await other.dispose();
    await fs.rm(root, { recursive: true, force: true });
    await fs.rm(outside, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`server stderr:\n${serverLog}`);
  });

  it('lists its tools, each with a valid input schema and annotations', async function () {
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name).sort();
    for (const expected of [
      'sandbox_create',
      'sandbox_list',
      'sandbox_status',
      'sandbox_start',
      'sandbox_stop',
      'sandbox_delete',
      'exec',
      'read_file',
      'write_file',
      'list_dir',
      'edit_file',
      'sync_push',
      'sync_pull',
      'forward',
      'screenshot',
      'desktop_input',
      'task_add',
      'task_status',
      'task_cancel',
      'task_logs',
    ]) {
      assert.ok(names.includes(expected), `${expected} is listed`);
    }
    const validator = new AjvJsonSchemaValidator();
    for (const tool of tools) {
      assert.equal(tool.inputSchema.type, 'object', tool.name);
      assert.doesNotThrow(() => validator.getValidator(tool.inputSchema), `${tool.name}'s schema compiles`);
      for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint'] as const)
        assert.equal(typeof tool.annotations?.[hint], 'boolean', `${tool.name} ${hint}`);
    }
    assert.equal(tools.find((tool) => tool.name === 'sandbox_delete')?.annotations?.destructiveHint, true);
    assert.equal(tools.find((tool) => tool.name === 'read_file')?.annotations?.readOnlyHint, true);
  });

  it('writes a Python file, runs it, reads its output, and journals each call without contents', async function () {
    await call('write_file', { sandbox: plainName, path: 'hello.py', content: "open('out.txt', 'w').write(str(6 * 7))\nprint('ran')\n" });
    const ran = await callJson<{ exitCode: number; stdout: string }>('exec', { sandbox: plainName, command: ['python3', 'hello.py'] });
    assert.deepEqual([ran.exitCode, ran.stdout], [0, 'ran\n']);
    assert.equal(textOf(await call('read_file', { sandbox: plainName, path: 'out.txt' })), '42');
    await call('edit_file', { sandbox: plainName, path: 'hello.py', old_string: '6 * 7', new_string: '6 * 9' });
    await call('exec', { sandbox: plainName, command: 'python3 hello.py' });
    assert.equal(textOf(await call('read_file', { sandbox: plainName, path: 'out.txt' })), '54');
    const listing = await callJson<{ entries: { name: string; type: string }[] }>('list_dir', { sandbox: plainName });
    assert.ok(listing.entries.some((entry) => entry.name === 'hello.py' && entry.type === 'file'));
    assert.ok(
      listing.entries.some((entry) => entry.name === 'data.txt'),
      'the workspace pushed at create is there',
    );
    const journal = (await fs.readFile(path.join(env.stateDir, 'events.jsonl'), 'utf8')).split('\n').filter((line) => line.includes('"mcp.call"'));
    const write = journal.map((line) => JSON.parse(line)).find((event) => event.tool === 'write_file');
    assert.equal(write.result, 'ok');
    assert.match(write.arguments.content, /^\(\d+ characters\)$/);
    assert.ok(!journal.join('\n').includes('6 * 7'), 'file contents stay out of the journal');
  });

  it('streams a long command as progress, and a cancel kills it in the sandbox', async function () {
    this.timeout(30_000);
    const marker = 'mcp-long-marker';
    const abort = new AbortController();
    const ticks: string[] = [];
    let streaming: () => void = () => undefined;
    const twoTicks = new Promise<void>((resolve) => (streaming = resolve));
    const running = client.callTool(
      { name: 'exec', arguments: { sandbox: plainName, command: ['sh', '-c', 'while :; do echo tick; sleep 0.1; done', marker] } },
      undefined,
      {
        signal: abort.signal,
        onprogress: (progress) => {
          ticks.push(progress.message ?? '');
          if (ticks.join('').split('tick').length > 2) streaming();
        },
      },
    );
    await twoTicks;
    assert.ok((await rootExec(plainContainer, 'ps -eo args')).includes(marker), 'the command runs while it streams');
    abort.abort();
    await assert.rejects(running);
    assert.ok(ticks.join('').includes('tick\n'), 'output came as progress');
    await waitFor(async () => !(await rootExec(plainContainer, 'ps -eo args')).includes(marker), 10_000, 'the cancelled command to be gone from ps');
    const journalled = await waitFor(
      async () =>
        (await fs.readFile(path.join(env.stateDir, 'events.jsonl'), 'utf8'))
          .split('\n')
          .filter((line) => line.includes('"mcp.call"') && line.includes(marker))
          .map((line) => JSON.parse(line))[0],
      5_000,
      'the cancelled call in the journal',
    );
    assert.deepEqual([journalled.result, journalled.errorCode], ['error', 'cancelled']);
  });

  it('forwards a port of the sandbox and returns its local URL', async function () {
    await call('exec', {
      sandbox: plainName,
      command: 'echo served > page.txt && setsid python3 -m http.server 8123 --bind 127.0.0.1 >/dev/null 2>&1 </dev/null &',
    });
    const { url } = await callJson<{ url: string }>('forward', { sandbox: plainName, port: 8123 });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+/);
    const page = await waitFor(
      () =>
        fetch(new URL('/page.txt', url)).then(
          (response) => (response.ok ? response.text() : undefined),
          () => undefined,
        ),
      15_000,
      'the forwarded server to answer',
    );
    assert.equal(page, 'served\n');
    assert.equal((await callJson<{ url: string }>('forward', { sandbox: plainName, port: 8123 })).url, url, 'a second call gives the same forward');
  });

  it('answers bad arguments and unknown sandboxes with tool errors, and keeps serving', async function () {
    assert.match(
      await refused('exec', { sandbox: 5 }),
      /^exec was given bad arguments: sandbox \(expected string, received number\); command \(missing\); see its input schema\.$/,
    );
    assert.match(await refused('read_file', { sandbox: plainName, path: 'x', encoding: 'latin1' }), /^read_file was given bad arguments: encoding/);
    await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), /There is no tool no_such_tool/);
    assert.match(await refused('sandbox_status', { sandbox: otherName }), /No sandbox is called/, "another state dir's sandbox is out of reach");
    assert.match(await refused('sandbox_status', { sandbox: 'no-such-sandbox' }), /No sandbox is called no-such-sandbox/);
    assert.match(await refused('read_file', { sandbox: plainName, path: 'missing.txt' }), /There is no file/);
    await assert.rejects(client.readResource({ uri: 'sandbox://%E0%A4%A/status' }));
    const statusText = ((await client.readResource({ uri: `sandbox://${plainName}/status` })).contents[0] as { text: string }).text;
    assert.equal(JSON.parse(statusText).state, 'running');
    for (const secret of ['ssh-ed25519', 'PRIVATE KEY', 'identityFile', 'hostKey']) assert.ok(!statusText.includes(secret), `the status holds no ${secret}`);
    const logs = ((await client.readResource({ uri: `sandbox://${plainName}/logs` })).contents[0] as { text: string }).text;
    assert.match(logs, /exec {2}python3 hello\.py -> exit 0/);
    const { resources } = await client.listResources();
    assert.ok(resources.some((resource) => resource.uri === `sandbox://${plainName}/logs`));
    const names = (await callJson<{ name: string }[]>('sandbox_list', {})).map((sandbox) => sandbox.name);
    assert.ok(names.includes(plainName) && !names.includes(otherName));
    const journal = (await fs.readFile(path.join(env.stateDir, 'events.jsonl'), 'utf8')).split('\n').filter((line) => line.includes('"mcp.call"'));
    const refusedCall = journal.map((line) => JSON.parse(line)).find((event) => event.tool === 'exec' && event.errorCode === 'invalid-input');
    assert.deepEqual(refusedCall?.arguments, { sandbox: 5 }, 'a call refused for its arguments is journalled too');
  });

  it('confines host paths to its roots, symlinks resolved, and refuses a huge read', async function () {
    assert.match(await refused('sync_push', { sandbox: plainName, local: os.tmpdir() }), /outside the folders open/);
    assert.match(await refused('sync_push', { sandbox: plainName, local: path.join(root, 'escape') }), /outside the folders open/);
    assert.match(await refused('sync_pull', { sandbox: plainName, local: path.join(root, 'escape', 'pulled') }), /outside the folders open/);
    const pushed = await callJson<{ files: number }>('sync_push', { sandbox: plainName, local: path.join(root, 'project'), remote: 'copy' });
    assert.equal(pushed.files, 1);
    await callJson('sync_pull', { sandbox: plainName, local: 'back', remote: 'copy' });
    assert.equal(await fs.readFile(path.join(root, 'back', 'data.txt'), 'utf8'), 'from the host\n');
    await call('exec', { sandbox: plainName, command: 'head -c 3000000 /dev/zero > big.bin' });
    assert.match(await refused('read_file', { sandbox: plainName, path: 'big.bin' }), /over the 1048576 bytes/);
  });

  it('confines host paths to the roots a client declares instead, and opens nothing when it lists none', async function () {
    let listed: { uri: string }[] = [];
    const rootsClient = new Client({ name: 'mcp-roots-test', version: '1.0.0' }, { capabilities: { roots: { listChanged: true } } });
    rootsClient.setRequestHandler(ListRootsRequestSchema, () => ({ roots: listed }));
    await rootsClient.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [CLI, 'mcp', '--root', root],
        env: { ...(process.env as Record<string, string>), AGENT_SANDBOXES_HOME: env.stateDir },
        stderr: 'pipe',
      }),
    );
    try {
      const push = (local: string) =>
        rootsClient.callTool({ name: 'sync_push', arguments: { sandbox: plainName, local, remote: 'from-roots' } }) as Promise<CallToolResult>;
      const none = await push(path.join(root, 'project'));
      assert.equal(none.isError, true);
      assert.match(textOf(none), /declares no roots/);
      await fs.writeFile(path.join(outside, 'note.txt'), 'outside\n');
      listed = [{ uri: pathToFileURL(outside).href }];
      const allowed = await push(outside);
      assert.ok(!allowed.isError, textOf(allowed));
      assert.match(textOf(await push(path.join(root, 'project'))), /outside the folders open to this server/, "the client's roots replace --root");
    } finally {
      await rootsClient.close();
    }
  });

  it("keeps a no-sudo sandbox's root files out of reach", async function () {
    assert.match(await refused('read_file', { sandbox: plainName, path: '/etc/shadow' }), /Permission denied/);
    assert.match(await refused('write_file', { sandbox: plainName, path: '/etc/planted', content: 'x' }), /Permission denied/);
    assert.match(await refused('edit_file', { sandbox: plainName, path: '/etc/shadow', old_string: 'root', new_string: 'x' }), /Permission denied/);
    await rootExec(plainContainer, 'test ! -e /etc/planted && ! ls /etc/.sandbox-write.* 2>/dev/null');
    await call('write_file', { sandbox: plainName, path: 'notes/plan.txt', content: 'mine', createParents: true });
    assert.equal(textOf(await call('read_file', { sandbox: plainName, path: 'notes/plan.txt' })), 'mine');
  });

  it('shows a desktop as a PNG and types keys that arrive in an xterm', async function () {
    this.timeout(60_000);
    const shot = await call('screenshot', { sandbox: desktopName });
    const image = shot.content.find((part) => part.type === 'image');
    assert.ok(image && image.type === 'image' && image.mimeType === 'image/png');
    const png = Buffer.from(image.data, 'base64');
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [1024, 768]);

    const display = { DISPLAY: ':1' };
    await call('exec', {
      sandbox: desktopName,
      env: display,
      command: 'setsid xterm -maximized -T mcp-typing -e sh -c "cat > typed.txt" >/dev/null 2>&1 </dev/null &',
    });
    const focused = await callJson<{ exitCode: number; stderr: string }>('exec', {
      sandbox: desktopName,
      env: display,
      timeout: 30,
      command: ['xdotool', 'search', '--sync', '--onlyvisible', '--name', 'mcp-typing', 'windowfocus', '--sync'],
    });
    assert.equal(focused.exitCode, 0, focused.stderr);
    // The reader must be waiting on the terminal, or the first keys are lost.
    await waitFor(
      async () => (await callJson<{ exitCode: number }>('exec', { sandbox: desktopName, command: 'pgrep -x cat' })).exitCode === 0,
      20_000,
      'cat to run in the xterm',
    );
    await call('desktop_input', { sandbox: desktopName, action: 'type', text: 'hello mcp' });
    await call('desktop_input', { sandbox: desktopName, action: 'key', keys: ['Return'] });
    await waitFor(
      async () =>
        (await client
          .callTool({ name: 'read_file', arguments: { sandbox: desktopName, path: 'typed.txt' } })
          .then((result) => textOf(result as CallToolResult))) === 'hello mcp\n',
      15_000,
      'the typed line to arrive',
    );
    assert.match(await refused('desktop_input', { sandbox: plainName, action: 'click', x: 1, y: 1 }), /has no desktop/);
  });

  it('queues, shows, reads and cancels a task, without its env values', async function () {
    const task = await callJson<{ id: string; state: string; envKeys: string[]; daemon: boolean }>('task_add', {
      command: ['echo', 'hi'],
      title: 'mcp task',
      env: { API_TOKEN: 'tok-do-not-show' },
      workspace: 'project',
    });
    assert.deepEqual([task.state, task.envKeys, task.daemon], ['queued', ['API_TOKEN'], false]);
    const shown = textOf(await call('task_status', { task: task.id }));
    assert.ok(!shown.includes('tok-do-not-show') && JSON.parse(shown).title === 'mcp task');
    const logs = await callJson<{ stdout: { text: string; nextOffset: number } }>('task_logs', { task: task.id });
    assert.deepEqual(logs.stdout, { text: '', nextOffset: 0, more: false });
    assert.equal((await callJson<{ state: string }>('task_cancel', { task: task.id })).state, 'cancelled');
    assert.match(await refused('task_cancel', { task: task.id }), /already been cancelled/);
    assert.match(await refused('task_add', { command: 'true', workspace: outside }), /outside the folders open/);
    const events = await fs.readFile(path.join(env.stateDir, 'events.jsonl'), 'utf8');
    assert.ok(!events.includes('tok-do-not-show'), 'env values stay out of the journal');
  });

  it('deletes both sandboxes', async function () {
    for (const name of [plainName, desktopName]) assert.equal((await callJson<{ deleted: boolean }>('sandbox_delete', { sandbox: name })).deleted, true);
    assert.deepEqual(await env.containers(), []);
  });
});
