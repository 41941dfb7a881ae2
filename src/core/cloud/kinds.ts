import type { ProviderKind } from '../model';

/** The kinds whose machines a cloud bills by the second: cloud options, the cost ledger and the daemon's enforcement apply to them. */
export const CLOUD_PROVIDER_KINDS: readonly ProviderKind[] = ['digitalocean'];

export function isCloudKind(kind: ProviderKind | string | undefined): boolean {
  return kind !== undefined && (CLOUD_PROVIDER_KINDS as readonly string[]).includes(kind);
}
