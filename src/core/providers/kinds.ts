import type { ProviderKind } from '../model';

/**
 * How each kind of provider is named and shown: the words of the provider registry
 * (./registry.ts), kept apart from its machinery so that a front end's light bundle (the
 * extension's activation file) can show the kinds without loading engines and SSH.
 */
export interface ProviderKindInfo {
  kind: ProviderKind;
  /** How the kind is shown (a tree group, a pick list). */
  label: string;
  /** One sentence for a setting's description or a pick list. */
  description: string;
  /** Whether VS Code may create sandboxes of this kind (the `sandboxes.defaultProvider` setting offers it). */
  offeredInSettings: boolean;
  /** Whether its machines run on this computer, which a front end may show apart from remote ones. */
  local: boolean;
  /** Whether a cloud bills its machines by the second: cloud options, the cost ledger and the daemon's enforcement apply. */
  cloud: boolean;
}

export const PROVIDER_KIND_INFO = {
  docker: {
    kind: 'docker',
    label: 'Docker (local engine)',
    description: 'A container on the local Docker engine.',
    offeredInSettings: true,
    local: true,
    cloud: false,
  },
  digitalocean: {
    kind: 'digitalocean',
    label: 'DigitalOcean',
    description: 'A DigitalOcean droplet, billed by the second within the monthly budget (`sandbox cloud login`).',
    offeredInSettings: true,
    local: false,
    cloud: true,
  },
  ssh: {
    kind: 'ssh',
    label: 'SSH hosts',
    description: 'A container or a folder on a machine reached over SSH (`sandbox host add`).',
    offeredInSettings: false,
    local: false,
    cloud: false,
  },
} as const satisfies Partial<Record<ProviderKind, ProviderKindInfo>>;

/** The kinds a provider is registered for, in the registry's order. */
export type RegisteredKind = keyof typeof PROVIDER_KIND_INFO;

/** The kind a create uses when none is named. */
export const DEFAULT_PROVIDER_KIND: ProviderKind = 'docker';

/** The kind whose sandboxes go to a machine the user added (`sandbox host add`), named with --host. */
export const HOSTED_PROVIDER_KIND: ProviderKind = 'ssh';

/** The registered kinds' words, in the registry's order. */
export function providerKindInfos(): ProviderKindInfo[] {
  return Object.values(PROVIDER_KIND_INFO);
}

export function providerKindInfo(kind: string): ProviderKindInfo | undefined {
  return providerKindInfos().find((info) => info.kind === kind);
}

/** Whether a kind's sandboxes are cloud machines, reached only over SSH (their firewall admits it under every policy). */
export function isCloudMachine(kind: string | undefined): boolean {
  return kind !== undefined && providerKindInfo(kind)?.cloud === true;
}

/** The kinds VS Code may create sandboxes of, in the registry's order. */
export function kindsOfferedInSettings(): ProviderKind[] {
  return providerKindInfos()
    .filter((info) => info.offeredInSettings)
    .map((info) => info.kind);
}

/** How a kind is shown; a kind no provider is registered for (a record from another version) shows its name. */
export function providerKindLabel(kind: ProviderKind): string {
  return providerKindInfo(kind)?.label ?? kind;
}
