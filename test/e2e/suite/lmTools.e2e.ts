import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { SandboxesApi } from '../../../src/extension/extension';
import { LANGUAGE_MODEL_TOOLS } from '../../../src/extension/lmTools/catalog';
import { note, suiteSettings } from './index';

const EXTENSION_ID = 'agent-sandboxes.agent-sandboxes';

/** Invokes one of our tools as a chat agent's host would, outside a chat (no invocation token). */
async function invoke(name: string, input: object): Promise<string> {
  const result = await vscode.lm.invokeTool(name, { input, toolInvocationToken: undefined });
  return result.content.map((part) => (part instanceof vscode.LanguageModelTextPart ? part.value : '')).join('');
}

/** The message of the error a call ends in. */
async function failureOf(name: string, input: object): Promise<string> {
  try {
    await invoke(name, input);
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail(`${name} did not fail`);
}

describe('language-model tools in the VS Code extension host', () => {
  let api: SandboxesApi;
  const name = `lm-${process.pid.toString(36)}`;

  before(async () => {
    const extension = vscode.extensions.getExtension<SandboxesApi>(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is not loaded`);
    api = await extension.activate();
  });

  after(async () => {
    // Whatever a failed test left behind; the runner removes the rest of its state dir.
    await api.cockpit.controller.delete(name).catch(() => undefined);
  });

  it('lists every sandbox tool in vscode.lm.tools, with its schema and tags', () => {
    const ours = vscode.lm.tools.filter((tool) => tool.tags.includes('sandboxes'));
    assert.deepEqual(ours.map((tool) => tool.name).sort(), LANGUAGE_MODEL_TOOLS.map((tool) => tool.name).sort());
    const exec = ours.find((tool) => tool.name === 'sandbox_exec')!;
    assert.deepEqual((exec.inputSchema as { required?: string[] }).required, ['sandbox', 'command']);
    assert.match(exec.description, /Runs a command in a sandbox/);
  });

  it('leaves the MCP server unregistered where VS Code lacks the server-definition API (1.100)', () => {
    const lm = vscode.lm as unknown as { registerMcpServerDefinitionProvider?: unknown };
    note(`    (VS Code ${vscode.version}; registerMcpServerDefinitionProvider: ${typeof lm.registerMcpServerDefinitionProvider})`);
    assert.equal(api.mcpServerRegistered, false);
  });

  it('creates a sandbox, runs a command in it through exec, and returns its output', async function () {
    this.timeout(10 * 60 * 1000);
    const created = JSON.parse(await invoke('sandbox_create', { name })) as { name: string; state: string };
    assert.equal(created.name, name);
    assert.equal(created.state, 'running');
    const started = Date.now();
    const ran = JSON.parse(await invoke('sandbox_exec', { sandbox: name, command: 'echo "hello from $(whoami) in $(pwd)"; echo oops >&2; exit 3' })) as {
      exitCode: number;
      stdout: string;
      stderr: string;
    };
    note(`    (exec through vscode.lm.invokeTool: ${Date.now() - started} ms)`);
    assert.equal(ran.exitCode, 3);
    assert.equal(ran.stdout, 'hello from agent in /home/agent/workspace\n');
    assert.equal(ran.stderr, 'oops\n');
  });

  it('writes, reads and lists files of the sandbox as its agent user', async () => {
    assert.deepEqual(JSON.parse(await invoke('sandbox_write_file', { sandbox: name, path: 'notes/a.txt', content: 'ünïcode\n', createParents: true })), {
      path: '/home/agent/workspace/notes/a.txt',
      bytes: 10,
    });
    assert.equal(await invoke('sandbox_read_file', { sandbox: name, path: 'notes/a.txt' }), 'ünïcode\n');
    const listed = JSON.parse(await invoke('sandbox_list_dir', { sandbox: name, path: 'notes' })) as { entries: { name: string }[] };
    assert.deepEqual(
      listed.entries.map((entry) => entry.name),
      ['a.txt'],
    );
    const list = JSON.parse(await invoke('sandbox_list', {})) as { name: string }[];
    assert.ok(list.some((sandbox) => sandbox.name === name));
  });

  it('gives a tool error as one sentence: an unknown sandbox, bad arguments, a root-only file', async () => {
    const unknown = await failureOf('sandbox_status', { sandbox: 'no-such-sandbox' });
    assert.match(unknown, /no-such-sandbox/);
    const bad = await failureOf('sandbox_status', {});
    assert.equal(bad, 'sandbox_status was given bad arguments: sandbox (missing); see its input schema.');
    const shadow = await failureOf('sandbox_read_file', { sandbox: name, path: '/etc/shadow' });
    for (const message of [unknown, shadow]) {
      assert.doesNotMatch(message, /\n|\bat \w+ \(/, 'one sentence, no stack');
      assert.match(message, /^[A-Z].*[.)]$/, `"${message}" is not one sentence`);
    }
  });

  it('journals every call like the MCP server does, secrets and contents left out', async () => {
    await invoke('sandbox_exec', { sandbox: name, command: 'echo "$X"', env: { X: 'hunter2' } });
    const journal = path.join(suiteSettings().stateDir, 'events.jsonl');
    type Call = { tool: string; result: string; arguments: Record<string, unknown>; error?: string };
    const calls = () =>
      readFileSync(journal, 'utf8')
        .split('\n')
        .filter((line) => line.includes('"mcp.call"'))
        .map((line) => JSON.parse(line) as Call);
    // The journal is written beside the call, not before its answer: wait for the last one.
    const deadline = Date.now() + 10_000;
    while (calls().filter((call) => call.tool === 'vscode/sandbox_exec').length < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    const execs = calls().filter((call) => call.tool === 'vscode/sandbox_exec');
    assert.equal(execs.length, 2, `${execs.length} exec calls journalled`);
    assert.deepEqual(execs[1]!.arguments.env, ['X=***']);
    assert.equal(calls().find((call) => call.tool === 'vscode/sandbox_write_file')!.arguments.content, '(8 characters)');
    assert.ok(calls().some((call) => call.tool === 'vscode/sandbox_status' && call.result === 'error' && /no-such-sandbox/.test(call.error ?? '')));
    assert.ok(!readFileSync(journal, 'utf8').includes('hunter2'));
  });

  // VS Code confirms by itself in an extension-test host (its dialog service answers yes), so the
  // test asks the registered tools what they hand VS Code to show.
  it('asks before every destructive call, saying what it will do, and before no other', async () => {
    const token = new vscode.CancellationTokenSource().token;
    const input = { sandbox: name, command: ['rm', '-rf', 'build'], path: 'a.txt', content: 'x', task: 't1', action: 'key' };
    for (const spec of LANGUAGE_MODEL_TOOLS) {
      const tool = api.languageModelTools.get(spec.name);
      assert.ok(tool, `${spec.name} is not registered`);
      const prepared = await tool.prepareInvocation({ input }, token);
      assert.equal(prepared?.confirmationMessages !== undefined, spec.destructive, spec.name);
    }
    const exec = await api.languageModelTools.get('sandbox_exec')!.prepareInvocation({ input }, token);
    assert.deepEqual(exec?.confirmationMessages, { title: `Run a command in sandbox ${name}?`, message: 'Runs: rm -rf build' });
  });

  it('deletes the sandbox', async () => {
    const { id } = JSON.parse(await invoke('sandbox_status', { sandbox: name })) as { id: string };
    assert.deepEqual(JSON.parse(await invoke('sandbox_delete', { sandbox: name })), { deleted: true, id, name });
    assert.match(await failureOf('sandbox_status', { sandbox: name }), new RegExp(name));
  });
});
