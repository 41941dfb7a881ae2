/**
 * Images as snapshots: a builder droplet boots from the same user data a create uses, is cleaned
 * of everything that belongs to one machine (keys, sudo rules, cloud-init's instance state), and
 * is snapshotted under a name carrying the recipe hash and the OS. Creates boot from that snapshot
 * when it exists in their region (cloud-init runs again as for a new instance: the sandbox's own
 * host key and client key), so the packages are already installed.
 */
import type { Clock } from '../../cost/billing';
import { decideCreate, monthFigures } from '../../cost/budget';
import type { CostLedger } from '../../cost/ledger';
import { readBudgetSettings } from '../../cost/settings';
import { SandboxError, describeError } from '../../errors';
import type { EnsureImageResult } from '../../images';
import { DESKTOP_RECIPE_NAME, RECIPE_NAME, loadRecipe } from '../../images/recipe';
import type { ImageBuildRequest } from '../dockerImages';
import type { CloudOs } from '../../model';
import { generateEd25519 } from '../../ssh/keys';
import { targetFor, type SshSession } from '../../ssh/session';
import { sshExec } from '../../transport/sshExec';
import type { DigitalOceanClient, Snapshot } from './api/client';
import { isDigitalOceanError } from './api/errors';
import type { Catalog } from './catalog';
import { chooseRegion, chooseSize } from './catalog';
import { connectWhenUp, publicIpv4, waitUntilActive, type BootTiming } from './droplets';
import { dropletPackageGroups } from './dropletDesktop';
import { TAG_PREFIX, ownerTag } from './tags';
import { REKEY_COMMAND, dropletUserData } from './userData';

export const IMAGE_PREFIX = `${TAG_PREFIX}-image-`;
export const OS_IMAGES: Record<CloudOs, string> = { 'ubuntu-24-04': 'ubuntu-24-04-x64', 'ubuntu-22-04': 'ubuntu-22-04-x64' };
/** The sandbox user (sshd admits only it); removed before the snapshot, so each create makes it anew with its own key. */
const BUILDER_USER = 'agent';
const SNAPSHOT_TIMEOUT_MS = 60 * 60_000;
const POWER_TIMEOUT_MS = 5 * 60_000;
/** The builder's life in the budget's projection: a build takes minutes, an hour is ample. */
const BUILDER_TTL_MS = 60 * 60_000;

/** The hash of the recipe an image is built from: the desktop recipe's covers the sandbox recipe too. */
function currentHash(desktop: boolean): string {
  return loadRecipe(desktop ? DESKTOP_RECIPE_NAME : RECIPE_NAME).hash;
}

/** The image snapshot's name: what it was built from, so a changed recipe is a new name. */
export function imageSnapshotName(os: CloudOs, hash: string = currentHash(false), desktop = false): string {
  return `${IMAGE_PREFIX}${desktop ? 'desktop-' : ''}${os}-${hash}`;
}

/** The OS, recipe hash and kind of one of our image snapshots, or undefined for any other snapshot. */
export function parseImageSnapshotName(name: string): { os: CloudOs; hash: string; desktop: boolean } | undefined {
  const match = /^agent-sandboxes-image-(desktop-)?(ubuntu-2[24]-04)-([0-9a-f]+)$/.exec(name);
  return match ? { os: match[2] as CloudOs, hash: match[3]!, desktop: match[1] !== undefined } : undefined;
}

/** The builder droplet's tag, beside the owner tag: a crashed build leaves an orphan found by it. */
export function builderTag(ownerId: string): string {
  return `${ownerTag(ownerId)}-image-builder`;
}

export interface ImageSnapshotDeps {
  client(): Promise<DigitalOceanClient>;
  catalog(signal?: AbortSignal): Promise<Catalog>;
  ledger: CostLedger;
  stateRoot: string;
  ownerId(): Promise<string>;
  timing: BootTiming;
  clock: Clock;
}

export interface ImageBuildOptions {
  os?: CloudOs;
  /** The desktop image: the desktop packages on top, under a name and hash of its own. */
  desktop?: boolean;
  region?: string;
  force?: boolean;
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

export interface ImageSnapshotInfo {
  id: string;
  name: string;
  os: CloudOs;
  hash: string;
  desktop: boolean;
  current: boolean;
  regions: string[];
  sizeGb: number;
  createdAt: string;
}

/** What must not be in an image: the builder's login and key, its sudo rules, its host keys, cloud-init's memory of this instance. */
const CLEAN_SCRIPT = [
  'set -eu',
  `rm -f /etc/sudoers.d/agent /etc/sudoers.d/sandbox-rekey ${REKEY_COMMAND}`,
  'rm -f /etc/ssh/ssh_host_*',
  'cloud-init clean --logs',
  `userdel -f -r ${BUILDER_USER} 2> /dev/null || true`,
  'sync',
].join('\n');

export class ImageSnapshots {
  private found?: { atMs: number; snapshots: Promise<Snapshot[]> };

  constructor(
    private readonly deps: ImageSnapshotDeps,
    private readonly cacheMs: number,
  ) {}

  /** Our image snapshots, read at most every cacheMs (a build or prune forgets the cache). */
  private snapshots(signal?: AbortSignal): Promise<Snapshot[]> {
    const now = this.deps.clock();
    if (!this.found || now - this.found.atMs > this.cacheMs) {
      const snapshots = this.deps
        .client()
        .then((client) => client.dropletSnapshots(signal))
        .then((all) => all.filter((snapshot) => parseImageSnapshotName(snapshot.name)));
      snapshots.catch(() => (this.found = undefined));
      this.found = { atMs: now, snapshots };
    }
    return this.found.snapshots;
  }

  /**
   * The current image's snapshot id for a create in this region, or undefined (the base image
   * then). A desktop takes the desktop image first, then the plain one (its first boot installs the rest).
   */
  async imageFor(os: CloudOs, region: string, signal?: AbortSignal, desktop = false): Promise<number | undefined> {
    const names = desktop ? [imageSnapshotName(os, currentHash(true), true), imageSnapshotName(os)] : [imageSnapshotName(os)];
    const here = (await this.snapshots(signal).catch(() => [])).filter((candidate) => candidate.regions.includes(region));
    for (const name of names) {
      const snapshot = here.find((candidate) => candidate.name === name);
      if (snapshot) return Number(snapshot.id);
    }
    return undefined;
  }

  async list(signal?: AbortSignal): Promise<ImageSnapshotInfo[]> {
    this.found = undefined;
    const hashes = { plain: currentHash(false), desktop: currentHash(true) };
    return (await this.snapshots(signal)).map((snapshot) => {
      const parsed = parseImageSnapshotName(snapshot.name)!;
      return {
        id: snapshot.id,
        name: snapshot.name,
        os: parsed.os,
        hash: parsed.hash,
        desktop: parsed.desktop,
        current: parsed.hash === (parsed.desktop ? hashes.desktop : hashes.plain),
        regions: snapshot.regions,
        sizeGb: snapshot.size_gigabytes,
        createdAt: snapshot.created_at,
      };
    });
  }

  /** Removes our image snapshots of an older recipe; returns what went. */
  async prune(signal?: AbortSignal): Promise<ImageSnapshotInfo[]> {
    const client = await this.deps.client();
    const stale = (await this.list(signal)).filter((image) => !image.current);
    for (const image of stale) {
      await client.deleteSnapshot(image.id, signal).catch((error: unknown) => {
        if (!isDigitalOceanError(error, 'not-found')) throw error;
      });
      await this.deps.ledger.deleteSnapshot(image.id);
    }
    this.found = undefined;
    return stale;
  }

  /** `sandbox image build --provider digitalocean`, in the shape of an engine's image build. */
  async buildImage(request: ImageBuildRequest): Promise<EnsureImageResult> {
    const startedMs = Date.now();
    const onProgress = (message: string) => request.onProgress?.({ message });
    const { os, region, force, desktop, signal } = request;
    const { snapshot, built } = await this.build({ os, region, force, desktop, signal, onProgress });
    return { tag: snapshot.name, built, base: OS_IMAGES[snapshot.os], durationMs: Date.now() - startedMs };
  }

  async build(options: ImageBuildOptions = {}): Promise<{ snapshot: ImageSnapshotInfo; built: boolean }> {
    const { signal } = options;
    const progress = options.onProgress ?? (() => undefined);
    const os = options.os ?? 'ubuntu-24-04';
    const desktop = options.desktop === true;
    const name = imageSnapshotName(os, currentHash(desktop), desktop);
    const existing = (await this.list(signal)).find((image) => image.name === name);
    if (existing && !options.force) {
      progress(`The image ${name} exists already (snapshot ${existing.id}); --force builds it again.`);
      return { snapshot: existing, built: false };
    }
    const client = await this.deps.client();
    const catalog = await this.deps.catalog(signal);
    const region = chooseRegion(catalog, options.region);
    const size = chooseSize(catalog, { region: region.slug, profile: { cpus: 1, memory: 2 * 1024 ** 3 } });
    const settings = await readBudgetSettings(this.deps.stateRoot);
    const figures = monthFigures(await this.deps.ledger.load(), this.deps.clock(), settings);
    const decision = decideCreate(figures, { sandbox: 'the image builder', size, ttlMs: BUILDER_TTL_MS, reserveGb: size.diskGb }, settings);
    if (!decision.allowed) throw new SandboxError('resource-limit', decision.refusal!);

    const ownerId = await this.deps.ownerId();
    const builderName = `${TAG_PREFIX}-image-builder-${desktop ? 'desktop-' : ''}${os}`;
    const hostKey = generateEd25519(builderName);
    const clientKey = generateEd25519(builderName);
    const entry = await this.deps.ledger.openMachine({
      sandbox: builderName,
      provider: 'digitalocean',
      size: size.slug,
      usdPerHour: size.usdPerHour,
      ttlMs: BUILDER_TTL_MS,
      reserveGb: size.diskGb,
    });
    let dropletId: number | undefined;
    try {
      progress(`Booting a builder droplet (${size.slug} in ${region.slug}, ${OS_IMAGES[os]})…`);
      const droplet = await client.createDroplet(
        {
          name: builderName,
          region: region.slug,
          size: size.slug,
          image: OS_IMAGES[os],
          tags: [ownerTag(ownerId), builderTag(ownerId)],
          userData: dropletUserData({
            user: BUILDER_USER,
            workdir: `/home/${BUILDER_USER}`,
            authorizedKey: clientKey.publicKey,
            hostKey: { privateKey: hostKey.privateKey, publicKey: hostKey.publicKey },
            sudo: true,
            // The packages only: a create's own user data starts the desktop, as its user and at its size.
            packages: dropletPackageGroups(desktop),
          }),
        },
        signal,
      );
      dropletId = droplet.id;
      const active = await waitUntilActive(client, droplet.id, this.deps.timing, signal);
      progress('Waiting for SSH and cloud-init (the packages install now)…');
      const target = targetFor(
        builderName,
        { host: publicIpv4(active)!, port: 22, user: BUILDER_USER, hostKey: hostKey.publicKey },
        { privateKey: clientKey.privateKey },
      );
      const session = await connectWhenUp(target, this.deps.timing, signal);
      try {
        await run(session, ['cloud-init', 'status', '--wait'], 'cloud-init', signal, [0, 2]);
        progress('Cleaning the builder of its keys, sudo rules and cloud-init state…');
        // The session ends with the user it logs in as; the shell script detaches from it first.
        await run(session, ['sudo', '-n', 'sh', '-c', CLEAN_SCRIPT], 'the clean-up', signal);
      } finally {
        session.close();
      }
      progress('Shutting the builder down…');
      await client.waitForAction((await client.powerAction(droplet.id, 'shutdown', signal)).id!, POWER_TIMEOUT_MS, signal).catch(async () => {
        await client.waitForAction((await client.powerAction(droplet.id, 'power_off', signal)).id!, POWER_TIMEOUT_MS, signal);
      });
      if (existing) {
        progress(`Removing the previous ${name} (snapshot ${existing.id})…`);
        await client.deleteSnapshot(existing.id, signal).catch((error: unknown) => {
          if (!isDigitalOceanError(error, 'not-found')) throw error;
        });
        await this.deps.ledger.deleteSnapshot(existing.id);
      }
      progress(`Taking the snapshot ${name}…`);
      const action = await client.snapshotDroplet(droplet.id, name, signal);
      await client.waitForAction(action.id!, SNAPSHOT_TIMEOUT_MS, signal);
      const snapshot = (await client.dropletSnapshots(signal)).find((candidate) => candidate.name === name && candidate.resource_id === String(droplet.id));
      if (!snapshot) throw new SandboxError('provider-error', `The snapshot ${name} is not listed after it completed; run the build again.`);
      await this.deps.ledger.storeSnapshot({ id: snapshot.id, sandbox: name, gb: snapshot.size_gigabytes, usdPerGbMonth: settings.snapshotUsdPerGbMonth });
      this.found = undefined;
      progress(`Built ${name} (snapshot ${snapshot.id}, ${snapshot.size_gigabytes} GB).`);
      const parsed = parseImageSnapshotName(name)!;
      return {
        built: true,
        snapshot: {
          id: snapshot.id,
          name,
          ...parsed,
          current: true,
          regions: snapshot.regions,
          sizeGb: snapshot.size_gigabytes,
          createdAt: snapshot.created_at,
        },
      };
    } finally {
      await this.destroyBuilder(client, dropletId, entry.id, progress);
    }
  }

  /** Always, also after a failure: the builder is destroyed and its ledger entry closed (a failed delete leaves it open and tagged). */
  private async destroyBuilder(client: DigitalOceanClient, dropletId: number | undefined, entryId: string, progress: (line: string) => void) {
    try {
      if (dropletId !== undefined) {
        progress('Destroying the builder droplet…');
        await client.deleteDroplet(dropletId).catch((error: unknown) => {
          if (!isDigitalOceanError(error, 'not-found')) throw error;
        });
      }
      await this.deps.ledger.closeMachine(entryId, 'destroyed');
    } catch (error) {
      progress(`The builder droplet ${dropletId} could not be destroyed (${describeError(error)}); \`sandbox cloud orphans\` finds it.`);
    }
  }
}

async function run(session: SshSession, command: string[], what: string, signal: AbortSignal | undefined, okCodes = [0]): Promise<void> {
  const result = await sshExec(session, { command, signal, timeoutMs: 30 * 60_000 }, { loginUser: BUILDER_USER, cwd: '/' });
  if (result.exitCode === null || !okCodes.includes(result.exitCode)) {
    const detail = result.stderr.trim().split('\n').pop()?.slice(0, 200);
    throw new SandboxError(
      'provider-error',
      `The image builder's ${what} failed (exit ${result.exitCode}${detail ? `: ${detail}` : ''}); run the build again.`,
    );
  }
}
