/**
 * One call to start the whole stand-in cloud for a test: the stateful stand-in of DigitalOcean's
 * API on loopback, Prism in front of it as a validating proxy with --errors (so neither the
 * client nor the stand-in can drift from DigitalOcean's contract), and, when asked, real droplet
 * machines (dropletMachines.ts). close() stops and removes exactly what this call started.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { REPO_ROOT, uniqueName } from '../integration/helpers';
import { DropletMachines } from './dropletMachines';
import { DigitalOceanStandIn } from './server';

const PRISM = path.join(REPO_ROOT, 'node_modules', '.bin', 'prism');
const SPEC = process.env.DO_OPENAPI_SPEC ?? path.resolve(REPO_ROOT, '..', 'shared', 'digitalocean', 'openapi-subset.yaml');
const PRISM_START_TIMEOUT_MS = 30_000;
const PRISM_STOP_GRACE_MS = 5_000;

export interface StartCloudOptions {
  /** Boot every created droplet as a container answering SSH (slow: seconds per droplet); off by default. */
  bootDroplets?: boolean;
  /** The least time a new droplet stays `new` (a booted one stays `new` until its sshd answers anyway). */
  bootDelayMs?: number;
  /** The least time an action stays `in-progress` (one with machine work waits for it too). */
  actionDelayMs?: number;
}

export interface StandInCloud {
  /** The Prism proxy's loopback URL: give it to the client as its base URL. */
  apiUrl: string;
  /** The token the stand-in accepts. */
  token: string;
  /** The stand-in itself: its state, failNext, rateLimitNext, requests, internalErrors. */
  standIn: DigitalOceanStandIn;
  /** The droplet machines, when bootDroplets was asked for. */
  machines: DropletMachines | undefined;
  /** The platform's fetch, noting every exchange that broke the contract in `contractViolations`: give it to the client. */
  fetch: (request: Request) => Promise<Response>;
  /** "METHOD path status: rules broken", for each exchange Prism found against the contract. */
  contractViolations: string[];
  /** Ids of this run's droplet containers on the engine (none without bootDroplets). */
  containers(): Promise<string[]>;
  /** Stops Prism and the stand-in and removes this run's droplet containers and snapshot images. */
  close(): Promise<void>;
}

export async function startCloud(options: StartCloudOptions = {}): Promise<StandInCloud> {
  if (!existsSync(SPEC)) throw new Error(`DigitalOcean's spec is not at ${SPEC}; set DO_OPENAPI_SPEC to its path.`);
  const token = `dop_v1_${randomBytes(32).toString('hex')}`;
  const machines = options.bootDroplets ? await DropletMachines.start(uniqueName('do-standin')) : undefined;
  const standIn = new DigitalOceanStandIn({ tokens: [token], bootDelayMs: options.bootDelayMs, actionDelayMs: options.actionDelayMs, ...machines?.hooks });
  let prism: ChildProcess | undefined;
  const close = async () => {
    const outcomes = await Promise.allSettled([stopPrism(prism), standIn.close(), machines?.close()]);
    const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failed) throw failed.reason;
  };
  try {
    const standInUrl = await standIn.listen();
    const started = await startPrismProxy(standInUrl);
    prism = started.prism;
    const contractViolations: string[] = [];
    const apiUrl = `http://127.0.0.1:${started.port}`;
    const recordingFetch = async (request: Request): Promise<Response> => {
      const response = await fetch(request);
      const violations = await violationsOf(response);
      if (violations !== null) contractViolations.push(`${request.method} ${request.url.replace(apiUrl, '')} ${response.status}: ${violations}`);
      return response;
    };
    return { apiUrl, token, standIn, machines, fetch: recordingFetch, contractViolations, containers: async () => (await machines?.containers()) ?? [], close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}

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

/** Starts Prism as a validating proxy in front of `upstream` on a free loopback port; tries another port if one was taken meanwhile. */
async function startPrismProxy(upstream: string): Promise<{ prism: ChildProcess; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { prism: await spawnPrism(port, upstream), port };
    } catch (error) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(error))) throw error;
    }
  }
}

function spawnPrism(port: number, upstream: string): Promise<ChildProcess> {
  const child = spawn(PRISM, ['proxy', '-h', '127.0.0.1', '-p', String(port), '--errors', SPEC, upstream], { stdio: ['ignore', 'pipe', 'pipe'] });
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
async function stopPrism(prism: ChildProcess | undefined): Promise<void> {
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
