import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { CLI, TestEnvironment, ensureImage, rootExec, uniqueName, waitFor } from './helpers';

/** The text parts of a tool result, joined. */
function textOf(result: CallToolResult): string {
  return result.content.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

/** The width and height in a PNG's IHDR, after checking the signature and that IHDR comes first. */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'the PNG signature');
  assert.equal(png.readUInt32BE(8), 13, "IHDR's length");
  assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('the code interpreter and Jupyter', function () {
  const env = new TestEnvironment();
  const name = uniqueName('jupyter');
  let container: string;
  let client: Client;
  let serverLog = '';
  const jupyters: ChildProcess[] = [];

  async function runCode(code: string, extra: Record<string, unknown> = {}): Promise<CallToolResult> {
    return (await client.callTool({ name: 'run_code', arguments: { sandbox: name, code, ...extra } })) as CallToolResult;
  }
  async function ranOk(code: string): Promise<CallToolResult> {
    const result = await runCode(code);
    assert.ok(!result.isError, `run_code failed: ${textOf(result)}`);
    return result;
  }

  /** `sandbox jupyter NAME --no-open --json` running: its one JSON line. */
  async function startJupyter(): Promise<{ url: string; localPort: number; remotePort: number; child: ChildProcess }> {
    const child = spawn(process.execPath, [CLI, 'jupyter', name, '--no-open', '--json'], {
      env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    jupyters.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const printed = await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`sandbox jupyter exited ${child.exitCode}: ${stdout}${stderr}`);
        try {
          return JSON.parse(stdout) as { url: string; localPort: number; remotePort: number };
        } catch {
          return undefined; // not all of it yet
        }
      },
      120_000,
      'the URL of sandbox jupyter',
    );
    return { ...printed, child };
  }

  before(async function () {
    this.timeout(20 * 60_000); // an image build, when CI has not built it
    await ensureImage();
    const record = await env.controller.create({ name });
    container = record.providerRef!;
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp'],
      env: { ...(process.env as Record<string, string>), AGENT_SANDBOXES_HOME: env.stateDir },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => (serverLog += chunk.toString()));
    client = new Client({ name: 'jupyter-test', version: '1.0.0' });
    await client.connect(transport);
  });

  after(async function () {
    this.timeout(60_000);
    for (const child of jupyters) if (child.exitCode === null) child.kill('SIGKILL');
    await client?.close();
    await env.dispose();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`server stderr:\n${serverLog}`);
  });

  it('lists run_code, and keeps the kernel state across calls, as the agent user', async function () {
    const { tools } = await client.listTools();
    assert.ok(tools.some((tool) => tool.name === 'run_code'));
    await ranOk('answer = 6 * 7\nimport os');
    const read = await ranOk('print(answer, os.getuid(), os.getcwd())\nanswer + 1');
    assert.equal(textOf(read), '42 1000 /home/agent/workspace\n43');
    assert.equal(read.structuredContent?.status, 'ok');
    // The kernel's connection file (its key) is the agent's alone.
    assert.equal((await rootExec(container, 'stat -c "%a %U" /home/agent/.sandbox-kernel/kernel.json')).trim(), '600 agent');
    assert.equal((await rootExec(container, 'stat -c "%a %U" /home/agent/.sandbox-kernel')).trim().replace(/^1/, ''), '700 agent');
  });

  it('returns a matplotlib figure as a PNG image', async function () {
    const result = await ranOk('import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title("squares")');
    const images = result.content.filter((part) => part.type === 'image');
    assert.equal(images.length, 1, textOf(result));
    const image = images[0] as { data: string; mimeType: string };
    assert.equal(image.mimeType, 'image/png');
    const { width, height } = pngSize(Buffer.from(image.data, 'base64'));
    assert.ok(width >= 200 && width <= 4000 && height >= 150 && height <= 4000, `${width}x${height}`);
    assert.match(textOf(result), /\[1 image \(PNG\)\]/);
  });

  it('returns the traceback of an exception as an error, without escape sequences, and the state stays', async function () {
    const failed = await runCode('1/0');
    assert.equal(failed.isError, true);
    const text = textOf(failed);
    assert.match(text, /ZeroDivisionError/);
    assert.match(text, /Traceback/);
    assert.match(text, /----> 1 1\/0/);
    assert.doesNotMatch(text, /\u001b/);
    assert.deepEqual((failed.structuredContent?.error as { name: string }).name, 'ZeroDivisionError');
    assert.equal(textOf(await ranOk('answer')), '42');
  });

  it('returns the traceback of an exception whose message is huge and not ASCII, cut to its caps', async function () {
    const failed = await runCode("raise ValueError('\u00e9' * 10_000_000)");
    assert.equal(failed.isError, true, textOf(failed));
    assert.match(textOf(failed), /ValueError/);
    assert.match(textOf(failed), /Traceback/);
    const error = failed.structuredContent?.error as { name: string; value: string };
    assert.equal(error.name, 'ValueError');
    assert.equal(error.value, '\u00e9'.repeat(2000));
  });

  it('interrupts code past its timeout and keeps the state', async function () {
    const started = Date.now();
    const late = await runCode('import time\ntime.sleep(60)', { timeout: 1 });
    assert.ok(Date.now() - started < 30_000);
    assert.equal(late.isError, true);
    assert.equal(late.structuredContent?.status, 'timeout');
    assert.match(textOf(late), /interrupted; the kernel keeps its state/);
    assert.equal(textOf(await ranOk('answer')), '42');
  });

  it('interrupts the code when the call is cancelled, and keeps the state', async function () {
    const abort = new AbortController();
    const cancelled = client.callTool({ name: 'run_code', arguments: { sandbox: name, code: 'import time\ntime.sleep(120)' } }, undefined, {
      signal: abort.signal,
    });
    setTimeout(() => abort.abort(), 1500);
    await assert.rejects(cancelled);
    // Were the sleep not interrupted, the kernel would be busy with it for two minutes.
    const started = Date.now();
    assert.equal(textOf(await ranOk('answer')), '42');
    assert.ok(Date.now() - started < 30_000, `the kernel answered after ${Date.now() - started} ms`);
  });

  it('starts a new kernel after one died, and says the state was lost', async function () {
    const died = await runCode('import os\nos._exit(1)');
    assert.equal(died.isError, true);
    assert.equal(died.structuredContent?.status, 'died');
    const after = await runCode('answer');
    assert.equal(after.isError, true);
    assert.match(textOf(after), /new one was started: variables and imports of earlier calls are gone/);
    assert.match(textOf(after), /NameError/);
    assert.equal(textOf(await ranOk('1 + 1')), '2');
  });

  it('sandbox jupyter serves the notebook over a forward, refusing requests without its token', async function () {
    const first = await startJupyter();
    const token = new URL(first.url).searchParams.get('token')!;
    assert.match(token, /^[0-9a-f]{48}$/);
    assert.equal(new URL(first.url).host, `127.0.0.1:${first.localPort}`);
    const base = `http://127.0.0.1:${first.localPort}`;
    for (const refused of [`${base}/api/status`, `${base}/api/contents`, `${base}/api/status?token=${'0'.repeat(48)}`]) {
      const response = await fetch(refused, { redirect: 'manual' });
      assert.ok([401, 403].includes(response.status), `${refused}: ${response.status}`);
    }
    const status = await fetch(`${base}/api/status?token=${token}`);
    assert.equal(status.status, 200);
    assert.equal(((await status.json()) as { started?: string }).started !== undefined, true);
    assert.equal((await fetch(first.url)).status, 200);
    // Inside the sandbox it listens on 127.0.0.1 only, and its token is on no command line and in no environment.
    const listening = await rootExec(container, 'cat /proc/net/tcp /proc/net/tcp6');
    const portHex = first.remotePort.toString(16).toUpperCase().padStart(4, '0');
    const sockets = listening.split('\n').filter((line) => line.split(/\s+/)[4] === '0A' && line.split(/\s+/)[2]?.endsWith(`:${portHex}`));
    assert.deepEqual(
      sockets.map((line) => line.split(/\s+/)[2]),
      [`0100007F:${portHex}`],
    );
    // (The token in two halves, so this search's own command line does not hold it.)
    const [head, tail] = [token.slice(0, 24), token.slice(24)];
    const exposed = await rootExec(
      container,
      `printf %s%s ${head} ${tail} > /tmp/.token && grep -lFf /tmp/.token /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null; rm /tmp/.token`,
    );
    assert.equal(exposed.trim(), '');
    // Again: the same server (its token), through a new forward.
    const second = await startJupyter();
    assert.notEqual(second.localPort, first.localPort);
    assert.equal(new URL(second.url).searchParams.get('token'), token);
    assert.equal((await fetch(`http://127.0.0.1:${second.localPort}/api/status`, { redirect: 'manual' })).status, 403);
    for (const { child } of [first, second]) {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      assert.equal(await exited, 0);
    }
  });
});
