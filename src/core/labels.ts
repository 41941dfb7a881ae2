/** Docker labels (and, later, cloud tags) that mark a resource as ours and let us rebuild its record. */
export const LABEL_PREFIX = 'dev.agent-sandboxes';
export const LABELS = {
  owner: `${LABEL_PREFIX}.owner`,
  id: `${LABEL_PREFIX}.id`,
  name: `${LABEL_PREFIX}.name`,
  agent: `${LABEL_PREFIX}.agent`,
  profile: `${LABEL_PREFIX}.profile`,
  user: `${LABEL_PREFIX}.user`,
  workdir: `${LABEL_PREFIX}.workdir`,
  created: `${LABEL_PREFIX}.created`,
  /** The sandbox's SSH host public key, pinned before its sshd first starts. */
  hostKey: `${LABEL_PREFIX}.host-key`,
} as const;

/** Labels of a snapshot image, beside the owner, profile, user and workdir labels it shares with sandboxes. */
export const SNAPSHOT_LABELS = {
  name: `${LABEL_PREFIX}.snapshot.name`,
  originId: `${LABEL_PREFIX}.snapshot.origin-id`,
  originName: `${LABEL_PREFIX}.snapshot.origin-name`,
  note: `${LABEL_PREFIX}.snapshot.note`,
  created: `${LABEL_PREFIX}.snapshot.created`,
} as const;
