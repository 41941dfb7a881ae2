import type Dockerode from 'dockerode';
import { SandboxError } from '../../errors';
import { LABELS, SNAPSHOT_LABELS } from '../../labels';
import { dockerExec } from '../../transport/dockerExec';
import type { SnapshotInfo, SnapshotRequest } from '../provider';
import { parseProfile } from './containers';
import { statusCode } from './engineErrors';

/** The repository of snapshot images on an engine. */
export const SNAPSHOT_REPOSITORY = 'agent-sandboxes/snapshot';

/** Errors of the engine, as the provider says them to a user. */
type Translate = (error: unknown, action: string) => Error;

/** The tag part of a snapshot's image: the owner's id ends it, so two state dirs sharing an engine never take each other's names. */
function tagOf(ownerId: string, name: string): string {
  return `${name}-${ownerId.slice(0, 6)}`;
}

export function snapshotTag(ownerId: string, name: string): string {
  return `${SNAPSHOT_REPOSITORY}:${tagOf(ownerId, name)}`;
}

/**
 * `docker commit` of a sandbox's container into a tagged image labelled as a snapshot. The engine
 * pauses the container while it copies (unless asked not to), so the copy is consistent.
 */
export async function commitSnapshot(docker: Dockerode, ref: string, request: SnapshotRequest, translate: Translate): Promise<SnapshotInfo> {
  let details: Dockerode.ContainerInspectInfo;
  try {
    details = await docker.getContainer(ref).inspect();
  } catch (error) {
    throw translate(error, 'inspect the container');
  }
  const labels = details.Config.Labels ?? {};
  const ownerId = labels[LABELS.owner];
  const originId = labels[LABELS.id];
  const profile = parseProfile(labels[LABELS.profile]);
  if (!ownerId || !originId || !profile) {
    throw new SandboxError('invalid-input', `The container ${ref.slice(0, 12)} is not a sandbox of Agent Sandboxes, so it cannot be snapshotted.`);
  }
  const tag = snapshotTag(ownerId, request.name);
  if (await imageExists(docker, tag, translate)) {
    throw new SandboxError(
      'conflict',
      `A snapshot named ${request.name} already exists; pick another name or remove it with \`sandbox snapshots rm ${request.name}\`.`,
    );
  }
  const createdAt = new Date().toISOString();
  const originName = labels[LABELS.name] ?? originId;
  const imageLabels: Record<string, string> = {
    [LABELS.owner]: ownerId,
    [LABELS.profile]: JSON.stringify(profile),
    [LABELS.user]: labels[LABELS.user] ?? 'agent',
    [LABELS.workdir]: labels[LABELS.workdir] ?? '/',
    // A commit carries the container's labels over: the origin's identity is blanked, so the
    // image never passes for the sandbox; every snapshot label is set (the note too, if empty),
    // so a snapshot of a sandbox made from a snapshot keeps nothing of the older one.
    [LABELS.id]: '',
    [LABELS.name]: '',
    [LABELS.agent]: '',
    [LABELS.created]: '',
    [LABELS.hostKey]: '',
    [SNAPSHOT_LABELS.name]: request.name,
    [SNAPSHOT_LABELS.originId]: originId,
    [SNAPSHOT_LABELS.originName]: originName,
    [SNAPSHOT_LABELS.note]: request.note ?? '',
    [SNAPSHOT_LABELS.created]: createdAt,
  };
  try {
    // dockerode sends `_query` as the query string and `_body` as the config the engine merges in.
    await docker.getContainer(details.Id).commit({
      _query: {
        container: details.Id,
        repo: SNAPSHOT_REPOSITORY,
        tag: tagOf(ownerId, request.name),
        comment: `Snapshot ${request.name} of ${originName}`,
        pause: request.pause ?? true,
      },
      _body: { Labels: imageLabels },
      abortSignal: request.signal,
    });
  } catch (error) {
    throw translate(error, 'snapshot the container');
  }
  const size = await docker
    .getImage(tag)
    .inspect()
    .then(
      (image) => image.Size,
      () => undefined,
    );
  return {
    name: request.name,
    provider: 'docker',
    providerRef: tag,
    image: tag,
    origin: { id: originId, name: originName },
    profile,
    user: imageLabels[LABELS.user]!,
    workdir: imageLabels[LABELS.workdir]!,
    createdAt,
    ...(request.note ? { note: request.note } : {}),
    ...(size !== undefined ? { sizeBytes: size } : {}),
  };
}

/** Every snapshot image of this owner on the engine. */
export async function listSnapshotImages(docker: Dockerode, ownerId: string, translate: Translate): Promise<SnapshotInfo[]> {
  let images: Dockerode.ImageInfo[];
  try {
    images = await docker.listImages({ filters: { label: [`${LABELS.owner}=${ownerId}`, SNAPSHOT_LABELS.name] } });
  } catch (error) {
    throw translate(error, 'list the snapshots');
  }
  return images.flatMap((image) => {
    const labels = image.Labels ?? {};
    const name = labels[SNAPSHOT_LABELS.name];
    const profile = parseProfile(labels[LABELS.profile]);
    const tag = name ? snapshotTag(ownerId, name) : undefined;
    // An image with our labels but not our tag was copied or retagged outside: not one of ours to list.
    if (!name || !profile || !tag || !(image.RepoTags ?? []).includes(tag)) return [];
    const note = labels[SNAPSHOT_LABELS.note];
    const snapshot: SnapshotInfo = {
      name,
      provider: 'docker',
      providerRef: tag,
      image: tag,
      origin: { id: labels[SNAPSHOT_LABELS.originId] ?? '', name: labels[SNAPSHOT_LABELS.originName] ?? '' },
      profile,
      user: labels[LABELS.user] || 'agent',
      workdir: labels[LABELS.workdir] || '/',
      createdAt: labels[SNAPSHOT_LABELS.created] || new Date(image.Created * 1000).toISOString(),
      ...(note ? { note } : {}),
      sizeBytes: image.Size,
    };
    return [snapshot];
  });
}

/** Removes a snapshot's tag (and its image, when no other tag or container holds it). */
export async function removeSnapshotImage(docker: Dockerode, tag: string, translate: Translate): Promise<void> {
  try {
    await docker.getImage(tag).remove();
  } catch (error) {
    if (statusCode(error) === 404) return;
    if (statusCode(error) === 409) {
      throw new SandboxError('wrong-state', `The snapshot image ${tag} is still used by a container; remove the sandboxes made from it first.`);
    }
    throw translate(error, 'remove the snapshot');
  }
}

/**
 * A machine made from a snapshot holds the origin's authorized keys in its user's home. They are
 * removed as that user (never as root: the home is the user's, and a link planted there must not
 * steer a root write) while the init still waits for its network, before the sshd first starts;
 * the init then adds this sandbox's own key.
 */
export async function clearOriginLogins(docker: Dockerode, containerId: string, user: string): Promise<void> {
  const script = 'rm -f -- "$HOME/.ssh/authorized_keys" "$HOME/.ssh/authorized_keys2"';
  const result = await dockerExec(docker, containerId, { command: ['/bin/sh', '-c', script] }, { user, cwd: '/' });
  if (result.exitCode !== 0) {
    throw new SandboxError(
      'provider-error',
      `Could not clear the logins the snapshot brought along (${result.stderr.trim() || `exit ${result.exitCode}`}); nothing was made, so try again or take a new snapshot.`,
    );
  }
}

async function imageExists(docker: Dockerode, tag: string, translate: Translate): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch (error) {
    if (statusCode(error) === 404) return false;
    throw translate(error, 'inspect the snapshot');
  }
}
