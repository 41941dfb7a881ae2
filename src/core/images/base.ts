/**
 * The Debian base under the sandbox image. Where a registry answers it is
 * debian:bookworm-slim; where none does, we make an equivalent minimal bookworm with
 * mmdebstrap on this machine and import its tar stream into the engine.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants } from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { SandboxError, cancelledError, describeError } from '../errors';
import { engineError, followJsonStream, inspectImage, type EngineMessage } from './engine';
import { LABEL_PREFIX } from '../labels';

export const DEBIAN_SUITE = 'bookworm';
/** The image a registry would give us. */
export const DEBIAN_SLIM_IMAGE = `debian:${DEBIAN_SUITE}-slim`;
/** Repository of the bases we make ourselves; the tag names the suite and the options' hash. */
export const DEBIAN_BASE_REPOSITORY = 'agent-sandboxes/debian-base';
/** Label on a base we made: the hash of the mmdebstrap options it was made with. */
export const BASE_RECIPE_LABEL = `${LABEL_PREFIX}.base-recipe`;

const MIRROR = 'http://deb.debian.org/debian';
const SECURITY_MIRROR = 'http://deb.debian.org/debian-security';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** SIGTERM lets mmdebstrap unmount and remove its temporary root; SIGKILL (which would not) only after this. */
const MMDEBSTRAP_TERM_GRACE_MS = 60_000;
/** Lines of mmdebstrap's stderr kept for an error message. */
const KEPT_LINES = 20;

export interface BaseProgress {
  step: string;
  message?: string;
  /** 0..1 within making the base. */
  fraction?: number;
}

/** apt sources of the image, in deb822 form as the official images have them. */
function sourcesFile(): string {
  return [
    'Types: deb',
    `URIs: ${MIRROR}`,
    `Suites: ${DEBIAN_SUITE} ${DEBIAN_SUITE}-updates`,
    'Components: main',
    `Signed-By: ${KEYRING}`,
    '',
    'Types: deb',
    `URIs: ${SECURITY_MIRROR}`,
    `Suites: ${DEBIAN_SUITE}-security`,
    'Components: main',
    `Signed-By: ${KEYRING}`,
    '',
  ].join('\n');
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * What dpkg leaves out of every package it installs (documentation but its copyright
 * notices, manuals, translations); dpkg keeps reading it in the image, so later installs
 * in the recipe and by agents stay lean too.
 */
const DPKG_EXCLUDES = [
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  'path-exclude=/usr/share/info/*',
];
const DPKG_EXCLUDES_FILE = '/etc/dpkg/dpkg.cfg.d/excludes';

/**
 * Runs after mmdebstrap unpacked the essential packages by itself, before dpkg installs
 * them. The excludes go in here rather than through --dpkgopt: given that option,
 * mmdebstrap filters every archive through a Python script as it unpacks, which more than
 * doubles the time; the few files that unpacking leaves are removed by the customize hook.
 */
function extractHook(): string {
  return [
    'set -e',
    'mkdir -p "$1/etc/dpkg/dpkg.cfg.d"',
    `printf '%s\\n' ${DPKG_EXCLUDES.map(shellQuote).join(' ')} > "$1${DPKG_EXCLUDES_FILE}"`,
  ].join('\n');
}

/**
 * Runs inside mmdebstrap after the packages are in ($1 is the new root): what the excludes
 * name goes, the deb822 sources replace the one-line list, nothing of apt's downloads or
 * of this host stays in the tree.
 */
function customizeHook(): string {
  return [
    'set -e',
    'rm -rf "$1"/usr/share/man/* "$1"/usr/share/info/*',
    'find "$1/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete',
    'find "$1/usr/share/doc" -mindepth 1 -type d -empty -delete',
    'find "$1/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +',
    'rm -f "$1/etc/apt/sources.list"',
    'mkdir -p "$1/etc/apt/sources.list.d"',
    `printf '%s' ${shellQuote(sourcesFile())} > "$1/etc/apt/sources.list.d/debian.sources"`,
    'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/debconf/*-old',
    'rm -rf "$1"/var/log/apt/* "$1/var/log/dpkg.log" "$1/var/log/alternatives.log" "$1/var/log/bootstrap.log"',
    // mmdebstrap copies the host's resolver and name in; the engine mounts its own over them.
    ': > "$1/etc/resolv.conf"',
    ': > "$1/etc/hostname"',
  ].join('\n');
}

/**
 * Everything that decides what the base contains, in mmdebstrap's argument form, without
 * the mode (root or unshare give the same tree) and without the output.
 */
export function mmdebstrapOptions(): string[] {
  return [
    '--variant=minbase',
    '--format=tar',
    '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
    '--aptopt=Acquire::Languages "none"',
    `--extract-hook=${extractHook()}`,
    `--customize-hook=${customizeHook()}`,
    DEBIAN_SUITE,
    '-',
    `deb ${MIRROR} ${DEBIAN_SUITE} main`,
    `deb ${MIRROR} ${DEBIAN_SUITE}-updates main`,
    `deb ${SECURITY_MIRROR} ${DEBIAN_SUITE}-security main`,
  ];
}

let optionsHash: string | undefined;

/** First 12 hex digits of the sha256 of the mmdebstrap options. */
export function baseRecipeHash(): string {
  optionsHash ??= createHash('sha256').update(JSON.stringify(mmdebstrapOptions())).digest('hex').slice(0, 12);
  return optionsHash;
}

/** The tag of the base we make: agent-sandboxes/debian-base:bookworm-<hash>. */
export function debianBaseTag(): string {
  return `${DEBIAN_BASE_REPOSITORY}:${DEBIAN_SUITE}-${baseRecipeHash()}`;
}

/**
 * What the sandbox recipe is built on, as it enters the recipe hash: the suite and the
 * options of the base we would make. debian:bookworm-slim stands in for the same thing.
 */
export function baseIdentity(): string {
  return `debian/${DEBIAN_SUITE} mmdebstrap/${baseRecipeHash()}`;
}

/** The mmdebstrap program on PATH, if there is one. */
export function findMmdebstrap(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'mmdebstrap');
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Rough share of the work done when mmdebstrap reports each stage. */
const MMDEBSTRAP_STAGES: Array<[RegExp, number]> = [
  [/running apt-get update/, 0.05],
  [/downloading packages/, 0.15],
  [/extracting archives/, 0.35],
  [/installing essential packages/, 0.45],
  [/installing remaining packages/, 0.7],
  [/running --customize-hook/, 0.8],
  [/cleaning package lists/, 0.85],
  [/creating tarball/, 0.9],
  [/done/, 1],
];

export interface MakeBaseOptions {
  /** Tag of the imported image; debianBaseTag() by default. */
  tag?: string;
  onProgress?: (progress: BaseProgress) => void;
  signal?: AbortSignal;
  /** The mmdebstrap program; found on PATH by default. */
  mmdebstrap?: string;
}

/**
 * Makes a minimal Debian with mmdebstrap and imports it into the engine under `tag`.
 * The upload is only completed when mmdebstrap exits successfully: when it fails or is
 * cancelled, the request is torn down and the engine keeps nothing.
 */
export async function makeDebianBase(docker: Dockerode, options: MakeBaseOptions = {}): Promise<{ tag: string; id: string }> {
  const tag = options.tag ?? debianBaseTag();
  const signal = options.signal;
  const report = options.onProgress ?? (() => undefined);
  const what = 'Making the Debian base image';
  if (signal?.aborted) throw cancelledError(what);
  const program = options.mmdebstrap ?? findMmdebstrap();
  if (!program) {
    throw new SandboxError(
      'image-missing',
      `No ${DEBIAN_SLIM_IMAGE} image is on the Docker engine and mmdebstrap is not installed to make one; install it (\`sudo apt-get install mmdebstrap\`) or load ${DEBIAN_SLIM_IMAGE} into the engine.`,
    );
  }
  const mode = process.getuid?.() === 0 ? '--mode=root' : '--mode=unshare';
  const args = [mode, ...mmdebstrapOptions()];
  report({ step: `Making a Debian ${DEBIAN_SUITE} base with mmdebstrap`, fraction: 0 });

  // Its own process group: mmdebstrap's parent ignores SIGTERM while its worker runs, so a
  // cancel signals the whole group (as Ctrl-C in a terminal would); and when writing the tar
  // fails, mmdebstrap sends SIGHUP to its whole group, which must not include this process.
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const signalGroup = (name: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, name);
    } catch {
      // the group is gone already
    }
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, exitSignal) => resolve({ code, signal: exitSignal }));
  });

  const lastLines: string[] = [];
  let stderrPending = '';
  let fraction = 0;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderrPending += text;
    let newline: number;
    while ((newline = stderrPending.search(/[\r\n]/)) >= 0) {
      const line = stderrPending.slice(0, newline).trim();
      stderrPending = stderrPending.slice(newline + 1);
      if (!line) continue;
      lastLines.push(line);
      if (lastLines.length > KEPT_LINES) lastLines.shift();
      for (const [pattern, share] of MMDEBSTRAP_STAGES) {
        if (pattern.test(line) && share > fraction) fraction = share;
      }
      report({ step: 'mmdebstrap', message: line, fraction });
    }
  });

  // The engine sees the end of the upload only after a clean exit (see below).
  const body = new PassThrough();
  child.stdout.pipe(body, { end: false });

  let cancelled = false;
  let importFailed = false;
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    cancelled = true;
    signalGroup('SIGTERM');
    killTimer = setTimeout(() => signalGroup('SIGKILL'), MMDEBSTRAP_TERM_GRACE_MS);
    killTimer.unref();
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  const finished = exited.then((result) => {
    if (result.code === 0 && !cancelled) {
      body.end();
    } else {
      body.destroy(new Error(`mmdebstrap ${result.error ? `could not run: ${result.error.message}` : `ended with ${result.signal ?? `exit code ${result.code}`}`}`));
    }
    return result;
  });

  const [importOutcome, result] = await Promise.all([
    (async (): Promise<{ id?: string; error?: unknown }> => {
      try {
        const [repo, imageTag] = splitTag(tag);
        const response = await docker.importImage(body, {
          repo,
          tag: imageTag,
          changes: [
            'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            'CMD ["/bin/bash"]',
            `LABEL ${BASE_RECIPE_LABEL}=${baseRecipeHash()}`,
          ],
          message: `mmdebstrap ${DEBIAN_SUITE} minbase`,
        });
        let id: string | undefined;
        let failure: string | undefined;
        await followJsonStream(
          response,
          (message: EngineMessage) => {
            if (message.error || message.errorDetail) failure = message.errorDetail?.message ?? message.error;
            else if (message.status?.startsWith('sha256:')) id = message.status;
          },
          signal,
          what,
        );
        if (failure) return { error: new Error(failure) };
        return { id };
      } catch (error) {
        // Nobody reads the tar any more: stop mmdebstrap rather than leave it blocked on a full pipe.
        if (child.exitCode === null && child.signalCode === null) {
          importFailed = true;
          signalGroup('SIGTERM');
          child.stdout.resume();
        }
        return { error };
      }
    })(),
    finished,
  ]);
  signal?.removeEventListener('abort', onAbort);
  if (killTimer) clearTimeout(killTimer);

  if (cancelled || signal?.aborted) {
    // An import that completed in spite of the cancel holds a whole image: keep nothing anyway.
    if (importOutcome.id) await docker.getImage(tag).remove().catch(() => undefined);
    throw cancelledError(what);
  }
  if (result.error) {
    throw new SandboxError('image-missing', `mmdebstrap could not be started (${describeError(result.error)}); check that it is installed and runnable.`, {
      cause: result.error,
    });
  }
  if (importOutcome.error !== undefined && (importFailed || result.code === 0)) {
    throw engineError(docker, importOutcome.error, `import the Debian base as ${tag}`, signal);
  }
  if (result.code !== 0) {
    const detail = lastLines.filter((line) => /^E:|error|fail/i.test(line)).slice(-3).join(' | ') || lastLines.slice(-3).join(' | ');
    throw new SandboxError(
      'provider-error',
      `mmdebstrap could not make the Debian base (${result.signal ?? `exit code ${result.code}`}): ${detail || 'no output'}; check that deb.debian.org is reachable.`,
    );
  }
  const image = await inspectImage(docker, tag, signal);
  if (!image) throw new SandboxError('provider-error', `The Docker engine accepted the Debian base but has no image ${tag} afterwards; try again.`);
  report({ step: 'Debian base ready', message: tag, fraction: 1 });
  return { tag, id: image.Id };
}

/** "repo/name:tag" into its repository and tag (a port in the registry part is not a tag). */
export function splitTag(ref: string): [string, string] {
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return [ref.slice(0, colon), ref.slice(colon + 1)];
  return [ref, 'latest'];
}
