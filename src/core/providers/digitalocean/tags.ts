/**
 * How our droplets and snapshots are found again: the provider is the truth, as container labels
 * are on an engine. A droplet carries the owner tag (every one of this state dir), its sandbox's
 * id, and its network policy's tag (the firewall attached by tag). Tags allow letters, digits,
 * `:`, `-` and `_` only, so the values are ours, never free text.
 */
export const TAG_PREFIX = 'agent-sandboxes';

export function ownerTag(ownerId: string): string {
  return `${TAG_PREFIX}-${ownerId}`;
}

export function sandboxIdTag(id: string): string {
  return `${TAG_PREFIX}-id:${id}`;
}

export function sandboxIdOf(tags: readonly string[] | null | undefined): string | undefined {
  const prefix = `${TAG_PREFIX}-id:`;
  return tags?.find((tag) => tag.startsWith(prefix))?.slice(prefix.length);
}

/** The tag a network policy's firewall is attached by: one firewall per policy per owner. */
export function networkTag(ownerId: string, policy: string): string {
  return `${ownerTag(ownerId)}-net-${policy}`;
}

/** A hibernated sandbox's snapshot: found by this name (snapshots made by an action carry no tags). */
export function hibernationName(ownerId: string, sandboxId: string): string {
  return `${TAG_PREFIX}-${ownerId}-${sandboxId}-hibernated`;
}

export function hibernatedIdOf(ownerId: string, snapshotName: string): string | undefined {
  const match = new RegExp(`^${TAG_PREFIX}-${ownerId}-([0-9a-f]+)-hibernated$`).exec(snapshotName);
  return match?.[1];
}

/** Handles: `droplet:<id>` for a machine, `hibernated:<snapshot id>` for one that is a snapshot now. */
export type DropletRef = { kind: 'droplet'; id: number } | { kind: 'hibernated'; snapshotId: string };

export function dropletRef(id: number): string {
  return `droplet:${id}`;
}

export function hibernatedRef(snapshotId: string): string {
  return `hibernated:${snapshotId}`;
}

export function parseDropletRef(ref: string): DropletRef | undefined {
  const droplet = /^droplet:(\d{1,18})$/.exec(ref);
  if (droplet) return { kind: 'droplet', id: Number(droplet[1]) };
  const hibernated = /^hibernated:([0-9A-Za-z-]{1,64})$/.exec(ref);
  if (hibernated) return { kind: 'hibernated', snapshotId: hibernated[1]! };
  return undefined;
}
