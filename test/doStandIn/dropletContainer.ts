/**
 * Test equipment: a stand-in droplet is a container of the droplet image (test/doStandIn/droplet:
 * the product's desktop image plus cloud-init and what a droplet's first boot installs) that
 * boots from user data with Debian's real cloud-init, given as a NoCloud seed, and then serves
 * sshd on a loopback address of its own, 127.0.1.N port 22, which a stand-in API reports as the
 * droplet's public IPv4.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { pack } from 'tar-stream';
import { desktopImageTag } from '../../src/core/images/recipe';
import { REPO_ROOT, docker } from '../integration/helpers';

/** Everything the stand-in makes carries this label; its value names the run that made it. */
export const DROPLET_TEST_LABEL = 'dev.agent-sandboxes.test.droplet';
const DROPLET_REPOSITORY = 'agent-sandboxes-test/droplet';
const RECIPE_DIR = path.join(REPO_ROOT, 'test', 'doStandIn', 'droplet');
/** How long cloud-init plus sshd may take before a boot counts as failed. */
const BOOT_TIMEOUT_MS = 60_000;

export interface DropletContainer {
  id: string;
  /** The loopback address standing in for the droplet's public IPv4. */
  ipv4: string;
  port: number;
}

/** The image tag: the recipe files' and the base's hash, so a changed recipe or desktop image builds a new image. */
export function dropletImageTag(base: string): string {
  const hash = createHash('sha256').update(base);
  for (const file of readdirSync(RECIPE_DIR).sort()) hash.update(file).update(readFileSync(path.join(RECIPE_DIR, file)));
  return `${DROPLET_REPOSITORY}:${hash.digest('hex').slice(0, 12)}`;
}

/**
 * The droplet image, built from the recipe on the product's desktop image (so a droplet can run a
 * desktop, as a real one does after its first boot installs the desktop group) when the engine lacks
 * it. It is kept afterwards (its tag changes with the recipe and the base), so later runs start at once.
 */
export async function ensureDropletImage(): Promise<string> {
  const base = desktopImageTag();
  const tag = dropletImageTag(base);
  if (await imageExists(tag)) return tag;
  if (!(await imageExists(base))) {
    throw new Error(
      `The desktop image ${base}, which stand-in droplets are built on, is missing; build it with \`node dist/cli.js image build --desktop\` and run again.`,
    );
  }
  const tar = spawn('tar', ['-c', '--owner=0', '--group=0', '-C', RECIPE_DIR, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const response = await docker.buildImage(tar.stdout, {
    t: tag,
    buildargs: { BASE_IMAGE: base },
    labels: { [DROPLET_TEST_LABEL]: 'image' },
    rm: true,
    forcerm: true,
    pull: false,
  });
  const lastLines: string[] = [];
  let failure: string | undefined;
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(
      response,
      (error: Error | null) => (error ? reject(error) : resolve()),
      (event: { stream?: string; error?: string }) => {
        if (event.error) failure = event.error;
        if (event.stream?.trim()) lastLines.push(event.stream.trim());
      },
    ),
  );
  if (failure) throw new Error(`Building the stand-in droplet image failed: ${failure}; last output: ${lastLines.slice(-5).join(' | ')}`);
  return tag;
}

async function imageExists(reference: string): Promise<boolean> {
  return docker
    .getImage(reference)
    .inspect()
    .then(
      () => true,
      () => false,
    );
}

/** 127.0.1.N for N in 1..254: one loopback address per droplet, so each has port 22 to itself. */
export function dropletAddress(index: number): string {
  if (!Number.isInteger(index) || index < 1 || index > 254) throw new Error(`A stand-in droplet index must be 1..254, not ${index}.`);
  return `127.0.1.${index}`;
}

async function userDataArchive(userData: string): Promise<Buffer> {
  const tar = pack();
  tar.entry({ name: 'droplet/', type: 'directory', mode: 0o700, uid: 0, gid: 0 });
  tar.entry({ name: 'droplet/user-data', mode: 0o600, uid: 0, gid: 0 }, userData);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Creates and starts a stand-in droplet booting from `userData`; `made` receives its id before
 * anything can fail, so the caller removes it whatever happens. The user data goes in as a file
 * before start, not as an environment variable, which would outlive the boot in the container's
 * configuration and in every image committed from it.
 */
export async function startDroplet(options: {
  image: string;
  userData: string;
  index: number;
  /** The container's name, unique on the engine. */
  name: string;
  /** The droplet's hostname and metadata id; the container's name when not given. */
  hostname?: string;
  instanceId?: string;
  runLabel: string;
  made: string[];
}): Promise<DropletContainer> {
  const ipv4 = dropletAddress(options.index);
  const hostname = options.hostname ?? options.name;
  const container = await docker.createContainer({
    name: options.name,
    Image: options.image,
    Hostname: hostname,
    Env: [`DROPLET_INSTANCE_ID=${options.instanceId ?? options.name}`, `DROPLET_HOSTNAME=${hostname}`],
    Labels: { [DROPLET_TEST_LABEL]: options.runLabel },
    ExposedPorts: { '22/tcp': {} },
    HostConfig: {
      // The metadata block in the user data sets nftables rules in the droplet's own namespace.
      CapAdd: ['NET_ADMIN'],
      PortBindings: { '22/tcp': [{ HostIp: ipv4, HostPort: '22' }] },
    },
  });
  options.made.push(container.id);
  await container.putArchive(await userDataArchive(options.userData), { path: '/' });
  await container.start();
  await waitForSshd(container.id, ipv4, 22);
  return { id: container.id, ipv4, port: 22 };
}

/** Reboots a stand-in droplet (a container restart: cloud-init runs its per-boot stages again) and waits for sshd. */
export async function rebootDroplet(droplet: DropletContainer): Promise<void> {
  await docker.getContainer(droplet.id).restart({ t: 5 });
  await waitForSshd(droplet.id, droplet.ipv4, droplet.port);
}

/** Powers a stand-in droplet off (a container stop: its disk stays); one already off is fine. */
export async function stopDroplet(droplet: DropletContainer): Promise<void> {
  await docker
    .getContainer(droplet.id)
    .stop({ t: 10 })
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 304) throw error;
    });
}

/** Powers a stand-in droplet on again (cloud-init runs its per-boot stages) and waits for sshd; one already on is fine. */
export async function powerOnDroplet(droplet: DropletContainer): Promise<void> {
  await docker
    .getContainer(droplet.id)
    .start()
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 304) throw error;
    });
  await waitForSshd(droplet.id, droplet.ipv4, droplet.port);
}

/** The first line sshd sends, or undefined when nothing answers yet (the engine's proxy accepts before sshd runs). */
export function sshBanner(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let received = '';
    const done = (banner: string | undefined) => {
      socket.destroy();
      resolve(banner);
    };
    socket.setTimeout(1_000, () => done(undefined));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\n')) done(received.startsWith('SSH-') ? received.split('\n')[0]!.trim() : undefined);
    });
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}

/** Waits until sshd answers on the droplet's address; fails with the boot log when the container stops or takes too long. */
async function waitForSshd(id: string, host: string, port: number): Promise<void> {
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  for (;;) {
    if (await sshBanner(host, port)) return;
    const state = (await docker.getContainer(id).inspect()).State;
    if (!state.Running || Date.now() > deadline) {
      const log = (await docker.getContainer(id).logs({ stdout: true, stderr: true, tail: 30 })).toString('latin1');
      throw new Error(
        `The stand-in droplet ${id.slice(0, 12)} ${state.Running ? 'did not answer on ssh in time' : `stopped (exit ${state.ExitCode})`}; its boot log ends: ${log}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Snapshots a stand-in droplet as an image (its filesystem, not its processes), as DigitalOcean
 * snapshots a droplet; `made` receives the image id. A droplet started from it with a new
 * instance-id makes cloud-init run its per-instance modules again, as a restore does.
 */
export async function snapshotDroplet(droplet: DropletContainer, runLabel: string, made: string[]): Promise<string> {
  const image = (await docker.getContainer(droplet.id).commit({ pause: true, changes: `LABEL ${DROPLET_TEST_LABEL}=${runLabel}` })) as { Id: string };
  made.push(image.Id);
  return image.Id;
}

/** Removes snapshot images by id; one that is already gone is fine. */
export async function removeSnapshots(ids: string[]): Promise<void> {
  for (const id of ids) {
    await docker
      .getImage(id)
      .remove({ force: true })
      .catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 404) throw error;
      });
  }
}

/** Removes stand-in droplets by id; one that is already gone is fine. */
export async function removeDroplets(ids: string[]): Promise<void> {
  for (const id of ids) {
    await docker
      .getContainer(id)
      .remove({ force: true })
      .catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 404) throw error;
      });
  }
}
