/**
 * Test equipment for quickstart.test.ts: a bare Debian bookworm image (git, and this machine's own
 * Node and npm, no Docker), a snapshot of this checkout as a newcomer's clone, and commands run in
 * containers with their exit code and output. Everything made carries this run's label value.
 */
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, promises as fs, readFileSync, realpathSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type Dockerode from 'dockerode';
import { DEBIAN_SLIM_IMAGE, debianBaseTag } from '../../src/core/images';
import { REPO_ROOT, docker, execIn, type ProgramRun } from './helpers';

const execFileAsync = promisify(execFile);

/** Every image, container and volume this suite makes carries this label, with its run's value. */
export const TEST_LABEL = 'dev.agent-sandboxes.test';
/** Where the clone sits in the containers (the newcomer's home). */
export const CLONE_IN_CONTAINER = '/home/newcomer/agent-sandboxes';

export type ContainerRun = ProgramRun;

/** A command in a running container, to its end, in the clone: its exit code and what it printed. */
export function runIn(containerId: string, cmd: string[], options: { user?: string; env?: string[] } = {}): Promise<ContainerRun> {
  return execIn(containerId, cmd, { ...options, workdir: CLONE_IN_CONTAINER });
}

/** The Debian base the sandbox image was built on, which is on the engine once ensureImage() has run. */
export async function debianBase(): Promise<string> {
  for (const ref of [DEBIAN_SLIM_IMAGE, debianBaseTag()]) {
    if (
      await docker
        .getImage(ref)
        .inspect()
        .then(
          () => true,
          () => false,
        )
    )
      return ref;
  }
  throw new Error(`Neither ${DEBIAN_SLIM_IMAGE} nor ${debianBaseTag()} is on the engine; build the sandbox image first (node dist/cli.js image build).`);
}

/** This Node's npm: <prefix>/lib/node_modules/npm beside <prefix>/bin/node. */
function npmDir(nodeBinary: string): string {
  const dir = path.resolve(path.dirname(nodeBinary), '..', 'lib', 'node_modules', 'npm');
  if (!existsSync(path.join(dir, 'bin', 'npm-cli.js'))) throw new Error(`No npm found beside ${nodeBinary} (looked in ${dir}).`);
  return dir;
}

/**
 * Builds a bare bookworm with git, a user `newcomer`, and the Node and npm running this test
 * (Debian's nodejs is older than the 20.19 the CLI needs). No cache, so no other run shares its
 * layers and removing it by id removes all of it. Returns the image id.
 */
export async function buildBareImage(tag: string, runLabel: string): Promise<string> {
  const base = await debianBase();
  const node = realpathSync(process.execPath);
  const npm = npmDir(node);
  const contextDir = mkdtempSync(path.join(os.tmpdir(), 'quickstart-context-'));
  writeFileSync(
    path.join(contextDir, 'Dockerfile'),
    [
      'ARG BASE_IMAGE',
      'FROM ${BASE_IMAGE}',
      // The apt lists go again: the quickstart's own apt-get update fetches them, as on a bare machine.
      'RUN set -eux; export DEBIAN_FRONTEND=noninteractive; apt-get update; \\',
      '    apt-get install -y --no-install-recommends git ca-certificates; \\',
      '    rm -rf /var/lib/apt/lists/* /var/cache/apt/*; useradd --create-home --shell /bin/bash newcomer',
      `COPY ${path.basename(node)} /usr/local/bin/node`,
      'COPY npm /usr/local/lib/node_modules/npm',
      'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && node --version && npm --version',
      '',
    ].join('\n'),
  );
  // One tar of three places: the Dockerfile, the node binary and npm's folder.
  const tar = spawn(
    'tar',
    ['-c', '--owner=0', '--group=0', '-C', contextDir, 'Dockerfile', '-C', path.dirname(node), path.basename(node), '-C', path.dirname(npm), 'npm'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const baseId = (await docker.getImage(base).inspect()).Id.replace(/^sha256:/, '');
  /** Images of finished steps (" ---> id" lines): fresh (no cache), so removed when the build fails. */
  const stepImages: string[] = [];
  let failure: string | undefined;
  const lastLines: string[] = [];
  try {
    const response = await docker.buildImage(tar.stdout, {
      t: tag,
      buildargs: { BASE_IMAGE: base },
      labels: { [TEST_LABEL]: runLabel },
      nocache: true,
      rm: true,
      forcerm: true,
      pull: false,
    });
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(
        response,
        (error: Error | null) => (error ? reject(error) : resolve()),
        (event: { stream?: string; error?: string }) => {
          if (event.error) failure = event.error;
          for (const line of (event.stream ?? '').split('\n').map((text) => text.trim())) {
            const step = /^---> ([0-9a-f]{12,64})$/.exec(line);
            if (step && !baseId.startsWith(step[1]!)) stepImages.push(step[1]!);
            else if (line) lastLines.push(line);
          }
        },
      ),
    );
    if (failure) throw new Error(`Building the bare test image failed: ${failure}; last output: ${lastLines.slice(-5).join(' | ')}`);
    return (await docker.getImage(tag).inspect()).Id;
  } catch (error) {
    for (const id of stepImages.reverse()) {
      await docker
        .getImage(id)
        .remove({ force: true })
        .catch(() => undefined);
    }
    throw error;
  } finally {
    tar.kill();
    await fs.rm(contextDir, { recursive: true, force: true });
  }
}

/**
 * A newcomer's clone of this checkout as it is now (tracked and new files, uncommitted changes
 * too, nothing ignored), committed into a fresh repository. `node_modules` is mounted from this
 * checkout, read-only, so package-lock.json is dated before it: the dependencies count as
 * installed, as right after `npm ci`.
 */
export async function snapshotClone(): Promise<{ dir: string; nodeModules: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quickstart-clone-'));
  chmodSync(dir, 0o755); // the newcomer account in the container reads it
  const { stdout } = await execFileAsync('git', ['-C', REPO_ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const files = [...new Set(stdout.split('\0'))].filter((file) => {
    if (!file || /^(node_modules|dist|out)(\/|$)/.test(file)) return false;
    try {
      lstatSync(path.join(REPO_ROOT, file));
      return true;
    } catch {
      return false; // deleted in the working tree
    }
  });
  const list = path.join(dir, '.files');
  writeFileSync(list, files.join('\0'));
  await execFileAsync('bash', ['-c', 'set -o pipefail; tar -c -C "$1" --null -T "$2" | tar -x -C "$3" && rm "$2"', 'copy', REPO_ROOT, list, dir]);
  const git = (...args: string[]) => execFileAsync('git', ['-C', dir, '-c', 'user.name=Newcomer', '-c', 'user.email=newcomer@example.invalid', ...args]);
  await git('init', '-q');
  await git('add', '-A');
  await git('commit', '-q', '-m', 'clone');
  const nodeModules = realpathSync(path.join(REPO_ROOT, 'node_modules'));
  const installed = statSync(path.join(nodeModules, '.package-lock.json')).mtime;
  const before = new Date(installed.getTime() - 60_000);
  utimesSync(path.join(dir, 'package-lock.json'), before, before);
  return { dir, nodeModules };
}

/** A container of the bare image that idles until removed (its id goes into `made` at once); commands go in with runIn. */
export async function startIdle(image: string, name: string, runLabel: string, made: string[], hostConfig: Dockerode.HostConfig): Promise<string> {
  const container = await docker.createContainer({
    name,
    Image: image,
    Cmd: ['sleep', 'infinity'],
    Labels: { [TEST_LABEL]: runLabel },
    HostConfig: { Init: true, ...hostConfig },
  });
  made.push(container.id);
  await container.start();
  return container.id;
}

/** Capabilities by bit number, as far as Docker 20.10 knows them (it refuses later names). */
const CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
];

/** The capabilities this process may hold (its bounding set), which the engine beside it shares. */
function boundingCapabilities(): string[] {
  const line = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const mask = BigInt(`0x${line?.[1] ?? '0'}`);
  return CAPABILITIES.filter((_name, bit) => (mask >> BigInt(bit)) & 1n);
}

/**
 * A container that can run a Docker engine of its own: what `--privileged` gives, spelt out.
 * `--privileged` itself asks for every capability the kernel knows, and where the machine's
 * bounding set lacks one (CAP_SYS_RESOURCE on this project's machines) the engine cannot start
 * such a container; so it gets every capability the bounding set has, no seccomp or AppArmor
 * profile, /proc and /sys unmasked, a cgroup namespace of its own, and its cgroup and sysfs
 * mounts made writable before use.
 */
export async function startEngineHost(image: string, name: string, runLabel: string, made: string[], binds: string[]): Promise<string> {
  const id = await startIdle(image, name, runLabel, made, {
    Binds: binds,
    CapAdd: boundingCapabilities(),
    SecurityOpt: ['apparmor=unconfined', 'seccomp=unconfined'],
    // What the CLI's `--security-opt systempaths=unconfined` sends: nothing of /proc masked or read-only.
    MaskedPaths: [],
    ReadonlyPaths: [],
    // Engine API 1.41; @types/dockerode does not name it yet.
    ...{ CgroupnsMode: 'private' },
  });
  const writable = await runIn(id, ['sh', '-c', 'mount -o remount,rw /sys && for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$d" || exit 1; done']);
  if (writable.code !== 0) throw new Error(`Making /sys and the cgroups writable in ${name} failed: ${writable.stderr}`);
  return id;
}

/** `docker save` of an image here into `docker load` in a container's own engine. */
function loadInto(containerId: string, image: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const pipeline = spawn('bash', ['-c', 'set -o pipefail; docker save "$1" | docker exec -i "$2" docker load', 'load', image, containerId], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    pipeline.stderr.on('data', (chunk) => (stderr += chunk));
    pipeline.on('error', reject);
    pipeline.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`Loading ${image} into ${containerId.slice(0, 12)} failed (${code}): ${stderr}`)),
    );
  });
}

/**
 * Puts `image` into the store of an engine that is not running yet, on `volume` (its future
 * /var/lib/docker): a loader container of the Debian base gets an engine from the clone's own
 * scripts/engine.sh, loads the image from this engine into it, stops it cleanly and goes.
 */
export async function fillEngineStore(options: {
  volume: string;
  image: string;
  cloneDir: string;
  name: string;
  runLabel: string;
  made: string[];
}): Promise<void> {
  const loader = await startEngineHost(await debianBase(), options.name, options.runLabel, options.made, [
    `${options.cloneDir}:${CLONE_IN_CONTAINER}:ro`,
    `${options.volume}:/var/lib/docker`,
  ]);
  const engine = await runIn(loader, ['bash', 'scripts/engine.sh']);
  if (engine.code !== 0) throw new Error(`The loader's engine did not start (exit ${engine.code}): ${engine.stderr}`);
  await loadInto(loader, options.image);
  const stopped = await runIn(loader, [
    'bash',
    '-c',
    'kill "$(cat /var/run/docker.pid)"; for _ in $(seq 1 120); do [ -e /var/run/docker.pid ] || exit 0; sleep 0.5; done; exit 1',
  ]);
  if (stopped.code !== 0) throw new Error(`The loader's dockerd did not stop, so its store may not be whole: ${stopped.stderr}`);
  await docker.getContainer(loader).remove({ force: true });
}

/** Removes what the suite made, each by its id or name; what is already gone is fine. */
export async function removeAll(made: { containers: string[]; volumes: string[]; images: string[]; dirs: string[] }): Promise<void> {
  for (const id of made.containers) {
    await docker
      .getContainer(id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  }
  for (const name of made.volumes) {
    await docker
      .getVolume(name)
      .remove()
      .catch(() => undefined);
  }
  for (const id of made.images) {
    await docker
      .getImage(id)
      .remove({ force: true })
      .catch(() => undefined);
  }
  for (const dir of made.dirs) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
}
