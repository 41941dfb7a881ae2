/**
 * Prism (`@stoplight/prism-cli`, pinned) serving DigitalOcean's own OpenAPI spec with --errors on
 * loopback, for every test of the DigitalOcean client and its stand-in: started on a free port,
 * stopped by its own pid, and the contract rules an exchange broke read from its answer.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { REPO_ROOT } from '../integration/helpers';

const PRISM = path.join(REPO_ROOT, 'node_modules', '.bin', 'prism');
export const SPEC = process.env.DO_OPENAPI_SPEC ?? path.resolve(REPO_ROOT, '..', 'shared', 'digitalocean', 'openapi-subset.yaml');
const PRISM_START_TIMEOUT_MS = 30_000;
const PRISM_STOP_GRACE_MS = 5_000;

/**
 * The contract rules an exchange broke: Prism names them in `sl-violations` on a bad answer, and in a
 * problem+json body of its own (no header) when it refuses a bad request before it reaches the stand-in.
 */
export async function violationsOf(response: Response): Promise<string | null> {
  const header = response.headers.get('sl-violations');
  if (header !== null) return header;
  if (!response.headers.get('content-type')?.includes('problem+json')) return null;
  const problem = await response.clone().text();
  return problem.includes('stoplight.io/prism/errors') ? problem : null;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Prism's two modes here: `mock` answers from the spec alone; `proxy` validates in front of `upstream`. */
export type PrismMode = { mock: true } | { proxy: string };

/** Starts Prism with --errors on a free loopback port; tries another port if one was taken meanwhile. */
export async function startPrism(mode: PrismMode): Promise<{ prism: ChildProcess; port: number; url: string }> {
  if (!existsSync(SPEC)) throw new Error(`DigitalOcean's spec is not at ${SPEC}; set DO_OPENAPI_SPEC to its path.`);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { prism: await spawnPrism(port, mode), port, url: `http://127.0.0.1:${port}` };
    } catch (error) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(error))) throw error;
    }
  }
}

function spawnPrism(port: number, mode: PrismMode): Promise<ChildProcess> {
  const args =
    'proxy' in mode
      ? ['proxy', '-h', '127.0.0.1', '-p', String(port), '--errors', SPEC, mode.proxy]
      : ['mock', '-h', '127.0.0.1', '-p', String(port), '--errors', SPEC];
  const child = spawn(PRISM, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stopPrism(child);
      reject(new Error(`Prism did not start within ${PRISM_START_TIMEOUT_MS / 1000} s:\n${output}`));
    }, PRISM_START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Prism is listening')) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Prism stopped (exit ${code}) before listening:\n${output}`));
    });
  });
}

/** Stops Prism by its own pid (the one process this harness started): SIGTERM, then SIGKILL if it lingers. */
export async function stopPrism(prism: ChildProcess | undefined): Promise<void> {
  if (prism?.pid === undefined || prism.exitCode !== null || prism.signalCode !== null) return;
  const pid = prism.pid;
  const exited = new Promise<void>((resolve) => prism.once('exit', () => resolve()));
  process.kill(pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (prism.exitCode === null && prism.signalCode === null) process.kill(pid, 'SIGKILL');
  }, PRISM_STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
