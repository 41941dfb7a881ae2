import { CostLedger } from '../../cost/ledger';
import { gpuConfirmation } from '../../cost/billing';
import { decideCreate, monthFigures } from '../../cost/budget';
import { readBudgetSettings } from '../../cost/settings';
import { DEFAULT_TTL_MS } from '../../cost/ttl';
import { SandboxError } from '../../errors';
import type { ExecRequest, ExecResult, Profile } from '../../model';
import { SshSession, targetFor } from '../../ssh/session';
import { StateStore } from '../../store/stateStore';
import { sshExec } from '../../transport/sshExec';
import type { EnsureImageResult } from '../../images';
import type { ImageBuildRequest } from '../dockerImages';
import type { CreatePlan, CreateRequest, CreateSpec, ListOptions, LogLine, LogOptions, Provider, ProviderSandbox } from '../provider';
import { DigitalOceanClient, type DigitalOceanClientOptions, type Droplet, type Firewall } from './api/client';
import { isDigitalOceanError } from './api/errors';
import { chooseRegion, chooseSize, readCatalog, type Catalog, type SizeOffer } from './catalog';
import { requireCredentials } from './credentials';
import { recheckBudget } from './budgetRecheck';
import {
  DEFAULT_BOOT_TIMING,
  connectWhenUp,
  dropletSandbox,
  fallbackProfile,
  publicIpv4,
  replaceHostKey,
  waitUntilActive,
  type BootTiming,
  type KnownSandbox,
  sandboxIdOfDroplet,
} from './droplets';
import { checkPoweredOn } from './bootFence';
import { dropletPackageGroups } from './dropletDesktop';
import { DropletSessions } from './dropletSessions';
import { dropletLogs } from './dropletLogs';
import { checkAllowlistOs, dropletNetworkUserData } from './dropletAllowlist';
import { checkAllowlistReady, prepareFirewalls, settleDropletNetwork } from './dropletNetwork';
import { readSshSources } from './sshSources';
import { Hibernation } from './hibernation';
import { ImageSnapshots, OS_IMAGES } from './imageSnapshots';
import { DropletListing } from './dropletListing';
import { dropletRef, ownerTag, parseDropletRef, sandboxIdTag } from './tags';
import { dropletUserData } from './userData';

export interface DigitalOceanProviderOptions {
  stateRoot: string;
  env?: NodeJS.ProcessEnv;
  timing?: Partial<BootTiming>;
  /** Where SSH may come from (the firewall's inbound rule); anywhere by default. */
  sshSources?: string[];
  clock?: () => number;
  /** The HTTP client under the API client (tests watch every exchange with it). */
  fetch?: DigitalOceanClientOptions['fetch'];
}

/** A cloud sandbox asks for little unless told: 1 vCPU, 2 GB (the cheapest size that builds most projects). */
const CLOUD_DEFAULTS = { cpus: 1, memory: 2 * 1024 ** 3 };
const CATALOG_TTL_MS = 10 * 60_000;

/** What prepareCreate chose, for the create that follows it. */
interface ChosenPlan {
  region: string;
  size: SizeOffer;
  ttlMs: number;
  image: string | number;
  network: string;
}

/**
 * Sandboxes as DigitalOcean droplets, found again by our tags (the provider is the truth). Every
 * command, transfer, forward and terminal goes over the sandbox's SSH connection with the host
 * key pinned before the first connection and replaced over it. Every droplet is in the cost ledger
 * before it exists, and a powered-off droplet still costs: `hibernate` (snapshot, then destroy)
 * is what stops the bill.
 */
export class DigitalOceanProvider implements Provider {
  readonly kind = 'digitalocean' as const;
  readonly stopKeepsBilling = true;
  readonly ledger: CostLedger;
  private readonly store: StateStore;
  private readonly timing: BootTiming;
  private readonly env: NodeJS.ProcessEnv;
  private readonly clock: () => number;
  private clientFor?: { token: string; apiUrl: string; client: DigitalOceanClient };
  private catalogRead?: { atMs: number; catalog: Promise<Catalog> };
  private readonly firewalls = new Map<string, Firewall>();
  private readonly plans = new Map<string, ChosenPlan>();
  private readonly sessions: DropletSessions;
  private readonly hibernation: Hibernation;
  /** Our image snapshots: `sandbox image build/list/prune --provider digitalocean`, and what creates boot from. */
  readonly images: ImageSnapshots;
  private readonly listing: DropletListing;

  constructor(private readonly options: DigitalOceanProviderOptions) {
    this.env = options.env ?? process.env;
    this.clock = options.clock ?? Date.now;
    this.timing = { ...DEFAULT_BOOT_TIMING, ...options.timing };
    this.store = new StateStore(options.stateRoot);
    this.sessions = new DropletSessions(this.store);
    this.ledger = new CostLedger(options.stateRoot, this.clock);
    this.hibernation = new Hibernation({
      client: () => this.client(),
      firewalls: (network, signal) => this.firewallsFor(network, signal),
      ledger: this.ledger,
      store: this.store,
      stateRoot: options.stateRoot,
      clock: this.clock,
    });
    this.listing = new DropletListing({
      client: () => this.client(),
      hibernation: this.hibernation,
      store: this.store,
      ledger: this.ledger,
      clock: this.clock,
    });
    this.images = new ImageSnapshots(
      {
        client: () => this.client(),
        catalog: (signal) => this.catalog(signal),
        ledger: this.ledger,
        stateRoot: options.stateRoot,
        ownerId: () => this.store.ownerId(),
        timing: this.timing,
        clock: this.clock,
      },
      CATALOG_TTL_MS,
    );
  }

  buildImage(request: ImageBuildRequest): Promise<EnsureImageResult> {
    return this.images.buildImage(request);
  }

  /** The API client for the token in use now (a new sign-in takes effect at the next call). */
  async client(): Promise<DigitalOceanClient> {
    const { token, apiUrl } = await requireCredentials(this.options.stateRoot, this.env);
    if (this.clientFor?.token !== token || this.clientFor.apiUrl !== apiUrl) {
      this.clientFor = { token, apiUrl, client: new DigitalOceanClient({ token, baseUrl: apiUrl, fetch: this.options.fetch }) };
      this.firewalls.clear(); // another account's (or API's) firewalls
    }
    return this.clientFor.client;
  }

  /** Regions and sizes with their prices, read at most every ten minutes. */
  async catalog(signal?: AbortSignal): Promise<Catalog> {
    const now = this.clock();
    if (!this.catalogRead || now - this.catalogRead.atMs > CATALOG_TTL_MS) {
      const catalog = this.client().then((client) => readCatalog(client, signal));
      catalog.catch(() => (this.catalogRead = undefined));
      this.catalogRead = { atMs: now, catalog };
    }
    return this.catalogRead.catalog;
  }

  /** Signed in: the account itself is asked at sign-in, not at every create. */
  async ping(): Promise<void> {
    await requireCredentials(this.options.stateRoot, this.env);
  }

  dispose(): void {
    this.sessions.dispose();
  }

  // ---- create ---------------------------------------------------------------------------------

  async prepareCreate(request: CreateRequest): Promise<CreatePlan> {
    const { requested } = request;
    const cloud = request.cloud ?? {};
    if (request.host !== undefined) throw new SandboxError('invalid-input', '--host names an SSH host; leave it out for a DigitalOcean sandbox.');
    const network = requested.network ?? 'default';
    dropletNetworkUserData({ ...request.profile, network }); // refuses an allowlist with sudo, a bad host entry
    checkAllowlistOs(cloud.os ?? 'ubuntu-24-04', network);
    const catalog = await this.catalog(request.signal);
    const region = chooseRegion(catalog, cloud.region);
    const size = chooseSize(catalog, {
      region: region.slug,
      size: cloud.size,
      gpu: cloud.gpu,
      profile: { cpus: requested.cpus ?? CLOUD_DEFAULTS.cpus, memory: requested.memory ?? CLOUD_DEFAULTS.memory },
    });
    const confirmation = gpuConfirmation(size, cloud.confirmGpu === true);
    if (confirmation.refusal) throw new SandboxError('invalid-input', confirmation.refusal);
    const ttlMs = cloud.ttlMs ?? DEFAULT_TTL_MS;
    const settings = await readBudgetSettings(this.options.stateRoot, cloud.budgetUsd);
    const figures = monthFigures(await this.ledger.load(), this.clock(), settings);
    const decision = decideCreate(figures, { sandbox: 'the new sandbox', size, ttlMs, reserveGb: size.diskGb }, settings);
    if (!decision.allowed) throw new SandboxError('resource-limit', decision.refusal!);
    const os = cloud.os ?? 'ubuntu-24-04';
    // Our image snapshot when it is in this region (packages installed already), the base image plus cloud-init otherwise.
    const desktop = requested.desktop !== undefined;
    const image = requested.image ?? String((await this.images.imageFor(os, region.slug, request.signal, desktop)) ?? OS_IMAGES[os]);
    this.plans.set(request.id, { region: region.slug, size, ttlMs, image: /^\d+$/.test(image) ? Number(image) : image, network });
    const profile: Profile = {
      ...request.profile,
      image,
      cpus: size.vcpus,
      memory: size.memoryMb * 1024 * 1024,
      disk: size.diskGb * 1024 ** 3,
      network,
    };
    return { profile, sandboxKeys: true };
  }

  create(spec: CreateSpec): Promise<ProviderSandbox> {
    return this.changing(this.createDroplet(spec));
  }

  private async createDroplet(spec: CreateSpec): Promise<ProviderSandbox> {
    const plan = this.plans.get(spec.id);
    if (!plan) throw new SandboxError('wrong-state', `The create of ${spec.name} was not checked first; try again.`);
    this.plans.delete(spec.id);
    const client = await this.client();
    const firewalls = await this.firewallsFor(plan.network, spec.signal);
    // In the ledger before it exists: a crash from here on leaves it priced, never running unseen.
    const entry = await this.ledger.openMachine({
      sandbox: spec.name,
      provider: this.kind,
      size: plan.size.slug,
      usdPerHour: plan.size.usdPerHour,
      ttlMs: plan.ttlMs,
      gpu: plan.size.gpu !== undefined,
      reserveGb: plan.size.diskGb,
      agent: spec.agentId,
      task: spec.taskId,
    });
    await recheckBudget(this.ledger, this.options.stateRoot, this.clock, entry.id, spec.name);
    let droplet: Droplet;
    try {
      droplet = await client.createDroplet(
        {
          name: spec.name,
          region: plan.region,
          size: plan.size.slug,
          image: plan.image,
          tags: [ownerTag(spec.ownerId), sandboxIdTag(spec.id), firewalls.bootTag],
          userData: dropletUserData({
            user: spec.user,
            workdir: spec.workdir,
            authorizedKey: spec.ssh.authorizedKey,
            hostKey: { privateKey: spec.ssh.hostPrivateKey, publicKey: spec.ssh.hostPublicKey },
            sudo: spec.profile.sudo,
            packages: dropletPackageGroups(spec.profile.desktop !== undefined),
            desktop: spec.profile.desktop,
            network: dropletNetworkUserData({ ...spec.profile, network: plan.network }),
          }),
        },
        spec.signal,
      );
    } catch (error) {
      // Refused: nothing was made. Any other failure (a 5xx, a dropped connection) may have made one,
      // which the caller's cleanup finds by its tag; listings lag, so the entry stays priced until a
      // listing 15 minutes on still lacks it (closeVanished): overstating is the budget's safe side.
      const refused = isDigitalOceanError(error, 'rejected') || isDigitalOceanError(error, 'unauthorized') || isDigitalOceanError(error, 'forbidden');
      if (refused) await this.ledger.closeMachine(entry.id, 'destroyed');
      throw error;
    }
    const active = await waitUntilActive(client, droplet.id, this.timing, spec.signal);
    const hostKey = await this.firstConnection(spec, active, spec.ssh.hostPublicKey, plan.network);
    const remove = () => this.remove(dropletRef(active.id));
    await settleDropletNetwork({ client, dropletId: active.id, name: spec.name, firewalls, remove, signal: spec.signal });
    const cloud = { region: plan.region, size: plan.size.slug, usdPerHour: plan.size.usdPerHour, ttlMs: plan.ttlMs };
    return dropletSandbox(active, { ...this.recordLike(spec), cloud, ssh: { host: publicIpv4(active)!, port: 22, user: spec.user, hostKey } }, spec.profile);
  }

  /** A policy's firewalls, made or put right (with the SSH sources chosen now) before a droplet boots under them. */
  private async firewallsFor(network: string, signal?: AbortSignal) {
    const sshSources = this.options.sshSources ?? (await readSshSources(this.options.stateRoot));
    return prepareFirewalls(await this.client(), await this.store.ownerId(), network, sshSources, this.firewalls, signal);
  }

  /** The first connection, trusting only the user data's key: waits for the boot to finish, then replaces that key. */
  private async firstConnection(spec: CreateSpec, droplet: Droplet, pinned: string, network: string): Promise<string> {
    const { privateKey } = await this.store.clientKey(spec.id);
    const target = targetFor(spec.name, { host: publicIpv4(droplet)!, port: 22, user: spec.user, hostKey: pinned }, { privateKey });
    const session = await connectWhenUp(target, this.timing, spec.signal);
    try {
      const hostKey = await replaceHostKey(session, spec.name, spec.user, spec.signal);
      if (network.startsWith('allow:')) await checkAllowlistReady(session, spec.name, spec.user, spec.signal);
      return hostKey;
    } finally {
      session.close();
    }
  }

  private recordLike(spec: CreateSpec): KnownSandbox {
    return { agentId: spec.agentId, profile: spec.profile, user: spec.user, workdir: spec.workdir, createdAt: spec.createdAt };
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  start(ref: string, signal?: AbortSignal): Promise<ProviderSandbox> {
    return this.changing(this.startDroplet(ref, signal));
  }

  private async startDroplet(ref: string, signal?: AbortSignal): Promise<ProviderSandbox> {
    const target = this.parse(ref);
    const client = await this.client();
    if (target.kind === 'hibernated') return this.hibernation.restore(target.snapshotId, this.timing, signal);
    // An active droplet is checked too: a start cut off during its check left it running unchecked.
    if ((await client.droplet(target.id, signal)).status !== 'active') {
      const action = await client.powerAction(target.id, 'power_on', signal);
      await client.waitForAction(action.id!, this.timing.bootTimeoutMs, signal);
    }
    const started = await this.inspectDroplet(target.id, signal);
    await checkPoweredOn(started, { store: this.store, timing: this.timing, powerOff: () => this.hibernation.powerOff(target.id), signal });
    return started;
  }

  async stop(ref: string, signal?: AbortSignal): Promise<ProviderSandbox> {
    const target = this.parse(ref);
    if (target.kind === 'hibernated') return (await this.inspect(ref))!;
    await this.changing(this.hibernation.powerOff(target.id, signal));
    return this.inspectDroplet(target.id, signal);
  }

  hibernate(ref: string, signal?: AbortSignal): Promise<ProviderSandbox> {
    const target = this.parse(ref);
    if (target.kind === 'hibernated') return this.inspect(ref).then((sandbox) => sandbox!);
    this.closeSession(ref);
    return this.changing(this.hibernation.hibernate(target.id, signal));
  }

  remove(ref: string, signal?: AbortSignal): Promise<void> {
    return this.changing(this.removeDroplet(ref, signal));
  }

  private async removeDroplet(ref: string, signal?: AbortSignal): Promise<void> {
    const target = this.parse(ref);
    this.closeSession(ref);
    const client = await this.client();
    const gone = (error: unknown) => {
      if (!isDigitalOceanError(error, 'not-found')) throw error;
    };
    if (target.kind === 'hibernated') {
      await client.deleteSnapshot(target.snapshotId, signal).catch(gone);
      await this.ledger.deleteSnapshot(target.snapshotId);
      return;
    }
    const droplet = await client.droplet(target.id, signal).catch((error: unknown) => (gone(error), undefined));
    await client.deleteDroplet(target.id, signal).catch(gone);
    const entry = droplet && (await this.ledger.load()).openMachineOf(droplet.name);
    if (entry) await this.ledger.closeMachine(entry.id, 'destroyed');
  }

  // ---- listing -------------------------------------------------------------------------------

  list(ownerId: string, options?: ListOptions): Promise<ProviderSandbox[]> {
    return this.listing.list(ownerId, options);
  }

  /** A droplet made, restored, hibernated or destroyed here: listings from before it are not reused. */
  private changing<T>(work: Promise<T>): Promise<T> {
    return work.finally(() => this.listing.invalidate());
  }

  unreachable(ref: string): string | undefined {
    return parseDropletRef(ref) ? this.listing.problem : undefined;
  }

  async inspect(ref: string): Promise<ProviderSandbox | undefined> {
    const target = this.parse(ref);
    if (target.kind === 'hibernated') return this.hibernation.inspect(target.snapshotId);
    return this.inspectDroplet(target.id).catch((error: unknown) => {
      if (isDigitalOceanError(error, 'not-found')) return undefined;
      throw error;
    });
  }

  private async inspectDroplet(id: number, signal?: AbortSignal): Promise<ProviderSandbox> {
    const droplet = await (await this.client()).droplet(id, signal);
    return dropletSandbox(droplet, await this.store.readRecord(sandboxIdOfDroplet(droplet)), fallbackProfile(droplet));
  }

  private parse(ref: string) {
    const target = parseDropletRef(ref);
    if (!target) throw new SandboxError('invalid-input', `"${ref}" is not a DigitalOcean droplet of ours; list the sandboxes with \`sandbox list\`.`);
    return target;
  }

  // ---- commands and logs ---------------------------------------------------------------------

  /** Commands go over the sandbox's SSH connection (the controller's, usually; this one when asked directly). */
  async exec(ref: string, request: ExecRequest): Promise<ExecResult> {
    const { sandbox, session } = await this.sessionOf(ref);
    return sshExec(session, request, { loginUser: sandbox.user, cwd: sandbox.workdir });
  }

  private async sessionOf(ref: string): Promise<{ sandbox: ProviderSandbox; session: SshSession }> {
    const sandbox = await this.inspect(ref);
    if (!sandbox?.ssh) throw new SandboxError('wrong-state', `The sandbox behind ${ref} is not running; start it first.`);
    const session = this.sessions.of(ref, { ...sandbox, ssh: sandbox.ssh });
    return { sandbox, session };
  }

  private closeSession(ref: string): void {
    this.sessions.close(ref);
  }

  /** The droplet's system log over its SSH connection (dropletLogs.ts). */
  logs(ref: string, options: LogOptions): AsyncIterable<LogLine> {
    return dropletLogs(async () => (await this.sessionOf(ref)).session, options);
  }
}
