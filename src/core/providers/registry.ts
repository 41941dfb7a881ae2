import { SandboxError } from '../errors';
import type { EnsureImageResult } from '../images';
import { HostRegistry } from '../hosts/registry';
import type { ExecRequest, ProviderKind } from '../model';
import { DockerProvider } from './docker';
import { buildDockerImage, prepareDockerCreate, type ImageBuildRequest } from './dockerImages';
import { DEFAULT_PROVIDER_KIND, PROVIDER_KIND_INFO, type ProviderKindInfo, type RegisteredKind } from './kinds';
import type { CreatePlan, CreateRequest, Provider } from './provider';
import { SshHostProvider } from './sshHost';
import { DigitalOceanProvider } from './digitalocean/provider';

export { DEFAULT_PROVIDER_KIND, kindsOfferedInSettings, type ProviderKindInfo } from './kinds';

/**
 * Every kind of provider, by name: the one place a kind is named and made. What the services
 * need to know about a kind beyond the `Provider` interface is asked here, not by testing for a
 * class. How a kind is named and shown is in ./kinds.ts, which front ends read without this file.
 */
export interface ProviderKindEntry extends ProviderKindInfo {
  /** The provider a controller uses when none is given; `closeWithController`: the controller's dispose closes it. */
  make(stateRoot: string, use: ProviderUse): { provider: Provider; closeWithController: boolean };
  /** Commands reach its sandboxes over the provider's own channel (an engine's exec) unless SSH is asked for. */
  ownExecChannel: boolean;
  /** Over its own channel: whether this machine's fast channel is missing, so SSH is the faster way. */
  lacksFastChannel?(provider: Provider, ref: string): boolean;
  /** Whether this command runs in a helper that ends, killing it, when this process ends. */
  runsInAgent?(provider: Provider, ref: string, request: ExecRequest): boolean;
  /** The checks before a create, for providers of this kind without a `prepareCreate` of their own. */
  prepareCreate?(provider: Provider, request: CreateRequest): Promise<CreatePlan>;
  /** Builds the sandbox images where machines of this kind run. */
  buildImage?(provider: Provider, request: ImageBuildRequest): Promise<EnsureImageResult>;
  /** The images of this kind that are kept as the provider's own snapshots, and pruning the stale ones. */
  listImages?(provider: Provider, signal?: AbortSignal): Promise<ProviderImage[]>;
  pruneImages?(provider: Provider, signal?: AbortSignal): Promise<ProviderImage[]>;
}

/** One image a provider keeps for its machines (`sandbox image list`). */
export interface ProviderImage {
  id: string;
  name: string;
  /** Built from the recipe as it is now; prune removes the others. */
  current: boolean;
  sizeGb: number;
  createdAt: string;
  regions?: string[];
}

/** How the process that makes a provider uses it. */
export interface ProviderUse {
  /** The process runs one command and ends: nothing meant to be reused pays off. */
  oneShot: boolean;
}

/** The local engine: a Docker provider given for this kind need not be ours (tests pass stand-ins). */
const engineOf = (provider: Provider): DockerProvider | undefined => (provider instanceof DockerProvider ? provider : undefined);

/** What each registered kind does beyond its words; a kind of ./kinds.ts without machinery here does not compile. */
const MACHINERY: { [K in RegisteredKind]: Omit<ProviderKindEntry, keyof ProviderKindInfo> } = {
  docker: {
    make: (_stateRoot, use) => ({ provider: new DockerProvider(use.oneShot ? { execChannel: 'docker' } : {}), closeWithController: false }),
    ownExecChannel: true,
    lacksFastChannel: (provider, ref) => engineOf(provider)?.lacksFastChannel(ref) ?? false,
    runsInAgent: (provider, ref, request) => engineOf(provider)?.runsInAgent(ref, request) ?? false,
    prepareCreate: async (provider, request) => {
      const engine = engineOf(provider);
      return engine ? prepareDockerCreate(engine, request) : { profile: request.profile, sandboxKeys: true };
    },
    buildImage: (provider, request) => buildDockerImage(asDockerProvider(provider), request),
  },
  digitalocean: {
    make: (stateRoot) => ({ provider: new DigitalOceanProvider({ stateRoot }), closeWithController: true }),
    ownExecChannel: false,
    buildImage: (provider, request) => asDigitalOcean(provider).buildImage(request),
    listImages: (provider, signal) => asDigitalOcean(provider).images.list(signal),
    pruneImages: (provider, signal) => asDigitalOcean(provider).images.prune(signal),
  },
  ssh: {
    make: (stateRoot) => ({ provider: new SshHostProvider({ hosts: new HostRegistry(stateRoot) }), closeWithController: true }),
    ownExecChannel: false,
  },
};

export const PROVIDER_KINDS: readonly ProviderKindEntry[] = (Object.keys(PROVIDER_KIND_INFO) as RegisteredKind[]).map((kind) => ({
  ...PROVIDER_KIND_INFO[kind],
  ...MACHINERY[kind],
}));

export function providerKindEntry(kind: ProviderKind): ProviderKindEntry | undefined {
  return PROVIDER_KINDS.find((entry) => entry.kind === kind);
}

/** The providers of one controller, by kind. */
export class ProviderSet {
  private readonly byKind: Partial<Record<ProviderKind, Provider>>;
  /** Providers made here rather than given: closed with the set. */
  private readonly owned: Provider[] = [];

  /** `given`: the providers to use; without them, every kind of the registry is made for this state dir. */
  constructor(given: Partial<Record<ProviderKind, Provider>> | undefined, stateRoot: string, use: ProviderUse = { oneShot: false }) {
    if (given) {
      this.byKind = given;
      return;
    }
    this.byKind = {};
    for (const entry of PROVIDER_KINDS) {
      const { provider, closeWithController } = entry.make(stateRoot, use);
      this.byKind[entry.kind] = provider;
      if (closeWithController) this.owned.push(provider);
    }
  }

  get(kind: ProviderKind): Provider {
    const provider = this.byKind[kind];
    if (!provider) throw new SandboxError('invalid-input', `The provider "${kind}" is not set up here; use ${DEFAULT_PROVIDER_KIND}.`);
    return provider;
  }

  find(kind: ProviderKind): Provider | undefined {
    return this.byKind[kind];
  }

  entries(): [ProviderKind, Provider][] {
    return Object.entries(this.byKind) as [ProviderKind, Provider][];
  }

  dispose(): void {
    for (const provider of this.owned) provider.dispose?.();
  }

  /** The provider of the local Docker engine. */
  get docker(): DockerProvider {
    return asDockerProvider(this.get('docker'));
  }

  /** The provider of machines the user brought (`sandbox host add`). */
  get sshHosts(): SshHostProvider {
    const provider = this.get('ssh');
    if (!(provider instanceof SshHostProvider)) throw new SandboxError('invalid-input', 'The ssh provider is not set up for SSH hosts here.');
    return provider;
  }

  /** Checks a create before anything is made: the provider's own checks, else those of its kind, else none. */
  prepareCreate(kind: ProviderKind, request: CreateRequest): Promise<CreatePlan> | undefined {
    const provider = this.get(kind);
    if (provider.prepareCreate) return provider.prepareCreate(request);
    return providerKindEntry(kind)?.prepareCreate?.(provider, request);
  }

  /** Builds the sandbox images for a kind's machines; the local engine's when no kind is given. */
  buildImage(request: ImageBuildRequest, kind: ProviderKind = DEFAULT_PROVIDER_KIND): Promise<EnsureImageResult> {
    return this.imageEntry(kind, 'buildImage').buildImage!(this.get(kind), request);
  }

  listImages(kind: ProviderKind, signal?: AbortSignal): Promise<ProviderImage[]> {
    return this.imageEntry(kind, 'listImages').listImages!(this.get(kind), signal);
  }

  pruneImages(kind: ProviderKind, signal?: AbortSignal): Promise<ProviderImage[]> {
    return this.imageEntry(kind, 'pruneImages').pruneImages!(this.get(kind), signal);
  }

  private imageEntry(kind: ProviderKind, operation: 'buildImage' | 'listImages' | 'pruneImages'): ProviderKindEntry {
    const entry = providerKindEntry(kind);
    if (!entry?.[operation]) {
      const able = PROVIDER_KINDS.filter((candidate) => candidate[operation]).map((candidate) => candidate.kind);
      throw new SandboxError('invalid-input', `The ${kind} provider keeps no images of its own; use --provider ${able.join(' or ')}.`);
    }
    return entry;
  }
}

function asDigitalOcean(provider: Provider): DigitalOceanProvider {
  if (!(provider instanceof DigitalOceanProvider)) throw new SandboxError('invalid-input', 'The digitalocean provider is not a DigitalOcean account here.');
  return provider;
}

function asDockerProvider(provider: Provider): DockerProvider {
  if (!(provider instanceof DockerProvider)) throw new SandboxError('invalid-input', 'The docker provider is not a Docker engine.');
  return provider;
}
