import type { ProviderKind } from '../model';
import { providerKindInfos } from '../providers/kinds';

/** The kinds whose machines a cloud bills by the second (see ProviderKindInfo.cloud), in the registry's order. */
export const CLOUD_PROVIDER_KINDS: readonly ProviderKind[] = providerKindInfos()
  .filter((info) => info.cloud)
  .map((info) => info.kind);

export function isCloudKind(kind: ProviderKind | string | undefined): boolean {
  return kind !== undefined && (CLOUD_PROVIDER_KINDS as readonly string[]).includes(kind);
}
