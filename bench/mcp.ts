/**
 * A tool call of exec `true` through `sandbox mcp` (the SDK's client over stdio, as an agent
 * calls it) against the exec agent's own round trip in this process, interleaved: the server's
 * overhead in ms. `sandbox exec` as a process is printed beside it, as what an agent that shells
 * out pays per command.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ExecSubject } from './exec';
import { interleave, median, ms, p50p95, report, scaled, sh } from './util';

/** The most the server may add to the exec agent's round trip (issue target), in ms. */
const OVERHEAD_TARGET_MS = 2;

export async function mcpLatency(subject: ExecSubject): Promise<void> {
  const { controller, ref, name, cli, env } = subject;
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cli, 'mcp'],
    env: { ...(process.env as Record<string, string>), ...(env as Record<string, string>) },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(transport);
  try {
    const overMcp = async () => {
      const result = (await client.callTool({ name: 'exec', arguments: { sandbox: name, command: ['true'] } })) as CallToolResult;
      if (result.isError) throw new Error(`exec through sandbox mcp failed: ${JSON.stringify(result.content)}`);
    };
    const agent = () => controller.exec(ref, { command: ['true'] });
    await overMcp(); // the server's exec agent, warm
    await agent();
    const inProcess = await interleave(scaled(60), { mcp: overMcp, agent });
    const perProcess = await interleave(scaled(10), { cliProcess: () => sh(`node ${cli} exec ${name} -- true`, env) });
    const overhead = median(inProcess.mcp) - median(inProcess.agent);
    report('Exec of `true` through `sandbox mcp`, p50 / p95, interleaved', [
      ['tool call: exec through `sandbox mcp` (stdio)', p50p95(inProcess.mcp)],
      ['in-process: controller.exec (exec agent)', p50p95(inProcess.agent)],
      ['overhead of the server (p50)', `${ms(overhead)} (target < ${OVERHEAD_TARGET_MS} ms: ${overhead < OVERHEAD_TARGET_MS ? 'met' : 'NOT met'})`],
      ['per process: `sandbox exec`, for comparison', p50p95(perProcess.cliProcess)],
    ]);
  } finally {
    await client.close();
  }
}
