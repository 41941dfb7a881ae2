/**
 * `sandbox exec NAME -- true` as a process with the daemon running (the call goes over its exec
 * socket, the command takes the exec agent) against `docker exec CID true` as a process and
 * against `sandbox exec` on its own path; interleaved, ratios within the run. Node's own start and
 * the full CLI's load are printed beside them, which is what the lean entry saves.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { EXEC_SOCKET_ENV, execSocketPath } from '../src/core/execSocket/protocol';
import type { ExecSubject } from './exec';
import { interleave, median, p50p95, ratioLine, report, scaled, sh } from './util';

async function waitForFile(file: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${file} did not appear within ${timeoutMs} ms; see daemon.log in the state dir.`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function execSocketLatency(subject: ExecSubject): Promise<void> {
  const { name, containerId, cli, env } = subject;
  const stateRoot = env.AGENT_SANDBOXES_HOME;
  if (!stateRoot) throw new Error('The exec socket benchmark needs AGENT_SANDBOXES_HOME in the subject’s environment.');
  const fullCli = path.join(path.dirname(cli), 'cliMain.js');
  await sh(`node ${cli} daemon start`, env);
  try {
    await waitForFile(execSocketPath(stateRoot), 30_000);
    await sh(`node ${cli} exec ${name} -- true`, env); // warm the daemon's exec agent
    const runs = await interleave(scaled(15), {
      socket: () => sh(`node ${cli} exec ${name} -- true`, env),
      own: () => sh(`node ${cli} exec ${name} -- true`, { ...env, [EXEC_SOCKET_ENV]: 'off' }),
      docker: () => sh(`docker exec ${containerId} true`),
      node: () => sh(`node -e 0`),
      fullLoad: () => sh(`node -e 'require(${JSON.stringify(fullCli)})'`),
    });
    report('`sandbox exec NAME -- true` as a process, with the daemon running, p50 / p95, interleaved', [
      ['`sandbox exec` over the daemon’s socket', p50p95(runs.socket)],
      ['`sandbox exec` on its own path (socket off)', p50p95(runs.own)],
      ['`docker exec CID true`', p50p95(runs.docker)],
      ['socket vs `docker exec` (p50)', ratioLine(median(runs.socket), median(runs.docker), 1)],
      ['socket vs own path (p50)', ratioLine(median(runs.socket), median(runs.own))],
      ['own path vs `docker exec` (p50)', ratioLine(median(runs.own), median(runs.docker))],
      ['Node’s start alone (`node -e 0`)', p50p95(runs.node)],
      ['Node loading the full CLI (dist/cliMain.js)', p50p95(runs.fullLoad)],
    ]);
  } finally {
    await sh(`node ${cli} daemon stop`, env).catch(() => undefined);
  }
}
