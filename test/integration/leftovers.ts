import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EVENT_LOG_FILE, ROTATED_EVENT_LOG_FILE } from '../../src/core/events';
import { SIDECAR_LABEL } from '../../src/core/network/dockerPolicy';
import { SANDBOX_NETWORK } from '../../src/core/providers/docker';
import { LABELS } from '../../src/core/labels';
import { docker } from './helpers';

/**
 * What exists before a sandbox is made: every container, volume and network on the engine
 * (not only those carrying our labels, so something made without them still shows), and every
 * file of the state dir with its lines.
 */
export interface Footprint {
  stateDir: string;
  containers: Map<string, ContainerSeen>;
  volumes: Map<string, Record<string, string>>;
  networks: Map<string, { name: string; labels: Record<string, string> }>;
  /** Relative path to its lines; directories map to an empty list. */
  files: Map<string, string[]>;
}

interface ContainerSeen {
  names: string[];
  labels: Record<string, string>;
}

/** What a leftover may be known by: the sandbox's name and id, its container's id. */
export interface LeftoverKeys {
  names: string[];
  ids?: string[];
}

/** Files the state dir keeps for all sandboxes at once; they may appear, but say nothing of a removed one. */
const SHARED_FILES = new Set(['owner-id', 'ssh/config', 'ssh/known_hosts']);
/** The event log is history: it tells of every sandbox, removed ones too, by design. */
const HISTORY_FILES = new Set([EVENT_LOG_FILE, ROTATED_EVENT_LOG_FILE]);

export async function footprint(stateDir: string): Promise<Footprint> {
  const containers = new Map<string, ContainerSeen>();
  for (const info of await docker.listContainers({ all: true })) containers.set(info.Id, { names: info.Names, labels: info.Labels ?? {} });
  const volumes = new Map<string, Record<string, string>>();
  for (const volume of (await docker.listVolumes()).Volumes ?? []) volumes.set(volume.Name, (volume.Labels as Record<string, string> | null) ?? {});
  const networks = new Map<string, { name: string; labels: Record<string, string> }>();
  for (const network of await docker.listNetworks()) networks.set(network.Id, { name: network.Name, labels: network.Labels ?? {} });
  return { stateDir, containers, volumes, networks, files: await listStateDir(stateDir) };
}

async function listStateDir(root: string, relative = '', files = new Map<string, string[]>()): Promise<Map<string, string[]>> {
  const entries = await fs.readdir(path.join(root, relative), { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const child = relative ? `${relative}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      files.set(child, []);
      await listStateDir(root, child, files);
    } else {
      const content = await fs.readFile(path.join(root, child)).catch(() => Buffer.alloc(0));
      files.set(child, content.length > 1024 * 1024 ? [`(${content.length} bytes)`] : content.toString('utf8').split('\n'));
    }
  }
  return files;
}

/**
 * Fails, listing them, on what appeared since `before` and remains: containers, volumes and
 * networks on the engine, files in the state dir, and lines naming the sandbox in the files it
 * shares with others (the SSH config, known_hosts). Resources another owner's label claims are
 * someone else's test; the shared sandbox network is kept on purpose.
 */
export async function assertNothingLeft(before: Footprint, keys: LeftoverKeys): Promise<void> {
  const after = await footprint(before.stateDir);
  const ownerId = await fs.readFile(path.join(before.stateDir, 'owner-id'), 'utf8').catch(() => undefined);
  const someoneElses = (labels: Record<string, string>): boolean => {
    const owner = labels[LABELS.owner];
    if (owner !== undefined && owner !== 'shared' && !owner.startsWith(ownerId?.trim() ?? '\0')) return true;
    const parent = labels[SIDECAR_LABEL];
    const parentSeen = parent === undefined ? undefined : after.containers.get(parent);
    return parentSeen !== undefined && someoneElses(parentSeen.labels);
  };
  const left: string[] = [];
  for (const [id, seen] of after.containers) {
    if (!before.containers.has(id) && !someoneElses(seen.labels)) left.push(`container ${seen.names.join(',')} (${id.slice(0, 12)})`);
  }
  for (const [name, labels] of after.volumes) {
    if (!before.volumes.has(name) && !someoneElses(labels)) left.push(`volume ${name}`);
  }
  for (const [id, network] of after.networks) {
    const shared = network.name === SANDBOX_NETWORK && network.labels[LABELS.owner] === 'shared';
    if (!before.networks.has(id) && !shared && !someoneElses(network.labels)) left.push(`network ${network.name}`);
  }
  const mentions = [...keys.names, ...(keys.ids ?? [])].filter((key) => key.length > 0);
  for (const [file, lines] of after.files) {
    if (HISTORY_FILES.has(file)) continue;
    const isDirectory = lines.length === 0;
    const isNew = !before.files.has(file);
    if (mentions.some((key) => file.includes(key))) {
      if (isNew) left.push(`${isDirectory ? 'folder' : 'file'} ${file} (named after the sandbox)`);
      continue;
    }
    if (isNew && !isDirectory && !SHARED_FILES.has(file)) left.push(`file ${file}`);
    const old = new Set(before.files.get(file) ?? []);
    for (const line of lines) {
      if (!old.has(line) && mentions.some((key) => line.includes(key))) left.push(`line of ${file}: ${line.trim()}`);
    }
  }
  assert.deepEqual(left, [], `left behind: ${left.join('; ')}`);
}
