/**
 * One call to start the whole stand-in cloud for a test: the stateful stand-in of DigitalOcean's
 * API on loopback, Prism in front of it as a validating proxy with --errors (so neither the
 * client nor the stand-in can drift from DigitalOcean's contract), and, when asked, real droplet
 * machines (dropletMachines.ts). close() stops and removes exactly what this call started.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { uniqueName } from '../integration/helpers';
import { DropletMachines } from './dropletMachines';
import { startPrism, stopPrism, violationsOf } from './prism';
import { DigitalOceanStandIn } from './server';

export { violationsOf };

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
    const started = await startPrism({ proxy: standInUrl });
    prism = started.prism;
    const contractViolations: string[] = [];
    const apiUrl = started.url;
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
