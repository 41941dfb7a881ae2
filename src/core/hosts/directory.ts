import * as path from 'node:path';
import { SandboxError } from '../errors';
import type { Profile, RunContext } from '../model';
import { formatSize, isValidName } from '../profile';
import { shellQuote } from '../util/shellQuote';

/**
 * A directory sandbox on an SSH host: `~/.agent-sandboxes/sandboxes/<id>/` holding
 * `sandbox.json` (what Docker labels are to a container: enough to rebuild the record),
 * `state` (running or stopped, and since when) and `workspace/`, where commands run.
 */

/** Set in every command of a directory sandbox; `stop` kills every process that carries it. */
export const SANDBOX_MARKER_ENV = 'AGENT_SANDBOX_ID';

const ID_PATTERN = /^[0-9a-f]{12}$/;

export interface DirectoryPaths {
  root: string;
  dir: string;
  workdir: string;
}

/** Where a host user's directory sandboxes live. */
export function sandboxesRoot(home: string): string {
  if (!path.posix.isAbsolute(home) || /[\u0000-\u001f]/.test(home)) {
    throw new SandboxError('provider-error', `The host reported "${home}" as the home folder, which is not an absolute path; check the user's account there.`);
  }
  return path.posix.join(home, '.agent-sandboxes', 'sandboxes');
}

export function directoryPaths(home: string, id: string): DirectoryPaths {
  assertSandboxId(id);
  const root = sandboxesRoot(home);
  const dir = path.posix.join(root, id);
  return { root, dir, workdir: path.posix.join(dir, 'workspace') };
}

export function assertSandboxId(id: string): void {
  if (!ID_PATTERN.test(id)) throw new SandboxError('invalid-input', `"${id}" is not a sandbox id (12 hexadecimal digits).`);
}

/** How a directory sandbox's commands are held in, as decided when it was made. */
export interface LimitPlan {
  mode: 'systemd' | 'prlimit' | 'none';
  /** argv before every command. */
  prefix: string[];
  /** The systemd user slice holding the sandbox's processes, in systemd mode. */
  slice?: string;
  /** What is and is not enforced, in words; shown as the sandbox's `limits`. */
  description: string;
}

export interface DirectoryMetadata {
  format: 1;
  owner: string;
  /**
   * The host's name in the owner's state dir: one machine added twice (another name, another
   * login) lists each sandbox once, under the host it was made through.
   */
  host: string;
  id: string;
  name: string;
  agentId: string;
  profile: Profile;
  user: string;
  createdAt: string;
  limits: LimitPlan;
}

export function runContext(paths: DirectoryPaths, id: string, limits: LimitPlan): RunContext {
  return { cwd: paths.workdir, env: { [SANDBOX_MARKER_ENV]: id }, prefix: limits.prefix };
}

/**
 * The remote command that lands an OpenSSH login in the sandbox: in its folder, with its marker
 * and limits, running `argv` (joined as ssh would) or a login shell.
 */
export function landingCommand(run: RunContext, argv?: string[]): string {
  const exports = Object.entries(run.env).map(([key, value]) => `${key}=${shellQuote(value)}; export ${key};`);
  const launcher = run.prefix.map(shellQuote).join(' ');
  const target = argv && argv.length > 0 ? `/bin/sh -c ${shellQuote(argv.join(' '))}` : '"${SHELL:-/bin/sh}" -l';
  return [`cd ${shellQuote(run.cwd)} || exit 255;`, ...exports, `exec ${launcher ? `${launcher} ` : ''}${target}`].join(' ');
}

// ---- remote scripts: `sh -c SCRIPT agent-sandboxes ARG...`, every value an argument ----------

/** What the host can give, for checking profiles and choosing limits. */
export const PROBE_SCRIPT = [
  'printf "home=%s\\n" "$HOME"',
  'printf "uid=%s\\n" "$(id -u)"',
  'printf "cpus=%s\\n" "$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)"',
  `printf "memory_kb=%s\\n" "$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"`,
  'if sudo -n true 2>/dev/null; then echo sudo=yes; fi',
  'if command -v prlimit >/dev/null 2>&1; then',
  '  prlimit --output=RESOURCE,HARD --noheadings --as --nproc | while read -r resource hard; do printf "hard_%s=%s\\n" "$resource" "$hard"; done',
  'fi',
  // A user manager we can talk to: the one systemd-run --user --scope needs.
  'if command -v systemd-run >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1; then echo systemd=yes; fi',
].join('\n');

export interface HostFacts {
  home: string;
  uid: number;
  cpus: number;
  memory: number;
  sudo: boolean;
  systemd: boolean;
  /** Hard limits; undefined when prlimit is missing, Infinity for unlimited. */
  hardLimits?: { as: number; nproc: number };
}

export function parseFacts(output: string): HostFacts {
  const values = new Map<string, string>();
  for (const line of output.split('\n')) {
    const equals = line.indexOf('=');
    if (equals > 0) values.set(line.slice(0, equals), line.slice(equals + 1).trim());
  }
  const limit = (value: string | undefined) => (value === undefined || value === 'unlimited' ? Infinity : Number(value));
  const hasPrlimit = values.has('hard_AS') || values.has('hard_NPROC');
  return {
    home: values.get('home') ?? '',
    uid: Number(values.get('uid') ?? NaN),
    cpus: Number(values.get('cpus') ?? 1),
    memory: Number(values.get('memory_kb') ?? 0) * 1024,
    sudo: values.get('sudo') === 'yes',
    systemd: values.get('systemd') === 'yes',
    hardLimits: hasPrlimit ? { as: limit(values.get('hard_AS')), nproc: limit(values.get('hard_NPROC')) } : undefined,
  };
}

/**
 * Makes the sandbox's slice in the user's systemd manager, then checks from inside a scope
 * which limits its cgroup really has (a controller may not be delegated to the user).
 * Stdin: the unit file. Prints `memory.max=...`, `cpu.max=...`, `pids.max=...`.
 */
export const SYSTEMD_SETUP_SCRIPT = [
  'set -e',
  'slice="$1"',
  'units="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"',
  'mkdir -p "$units"',
  'cat > "$units/$slice.tmp"',
  'mv -f "$units/$slice.tmp" "$units/$slice"',
  'systemctl --user daemon-reload',
  'cgroup=$(systemd-run --user --scope --quiet --slice="$slice" -- cat /proc/self/cgroup | sed -n "s/^0:://p")',
  '[ -n "$cgroup" ]',
  'parent=$(dirname "/sys/fs/cgroup$cgroup")',
  'for file in memory.max cpu.max pids.max; do printf "%s=%s\\n" "$file" "$(cat "$parent/$file" 2>/dev/null || echo missing)"; done',
].join('\n');

/** Stops the slice and removes its unit; what remains of it is gone with the next daemon-reload. */
export const SYSTEMD_REMOVE_SCRIPT = [
  'slice="$1"',
  'systemctl --user stop "$slice" >/dev/null 2>&1',
  'rm -f "${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user/$slice"',
  'systemctl --user daemon-reload >/dev/null 2>&1',
  'exit 0',
].join('\n');

export const SYSTEMD_STOP_SCRIPT = 'systemctl --user stop "$1" >/dev/null 2>&1; exit 0';

export function sliceName(id: string): string {
  assertSandboxId(id);
  // The dash nests it under agentsandboxes.slice, so `systemctl --user status agentsandboxes.slice` shows them all.
  return `agentsandboxes-${id}.slice`;
}

export function sliceUnit(name: string, profile: Profile): string {
  return [
    '# Made by Agent Sandboxes for the sandbox ' + name + '; removed with it.',
    '[Slice]',
    `MemoryMax=${profile.memory}`,
    'MemorySwapMax=0',
    `CPUQuota=${Math.round(profile.cpus * 100)}%`,
    `TasksMax=${profile.pids}`,
    '',
  ].join('\n');
}

const NOT_FENCED = 'files outside its folder and the network are not fenced (it runs as the host user)';

/** The plan from what a scope in the slice showed; undefined when nothing took (fall back to prlimit). */
export function systemdPlan(slice: string, profile: Profile, observed: string): LimitPlan | undefined {
  const values = new Map(
    observed
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1).trim()]),
  );
  const enforced: string[] = [];
  const missing: string[] = [];
  (values.get('memory.max') === String(profile.memory) ? enforced : missing).push(`memory ${formatSize(profile.memory)}`);
  (values.get('cpu.max')?.match(/^\d+ \d+$/) ? enforced : missing).push(`${profile.cpus} CPUs`);
  (values.get('pids.max') === String(profile.pids) ? enforced : missing).push(`${profile.pids} processes`);
  if (enforced.length === 0) return undefined;
  return {
    mode: 'systemd',
    slice,
    prefix: ['systemd-run', '--user', '--scope', '--quiet', '--collect', `--slice=${slice}`, '--'],
    description:
      `${enforced.join(', ')} for the sandbox as a whole (systemd user slice ${slice})` + `; not limited: ${[...missing, 'disk'].join(', ')}; ${NOT_FENCED}.`,
  };
}

/** Per-process rlimits where there is no systemd user manager. */
export function prlimitPlan(profile: Profile, facts: HostFacts, user: string): LimitPlan {
  if (!facts.hardLimits) {
    return { mode: 'none', prefix: [], description: `nothing is limited (the host has neither a systemd user manager nor prlimit); ${NOT_FENCED}.` };
  }
  // A user may lower a hard limit but never raise it: stay at or under what the host allows.
  const as = Math.min(profile.memory, facts.hardLimits.as);
  const nproc = Math.min(profile.pids, facts.hardLimits.nproc);
  const nprocNote = facts.uid === 0 ? ' (not enforced: the host user is root)' : ` (counted over every process of ${user} there, not this sandbox alone)`;
  return {
    mode: 'prlimit',
    prefix: ['prlimit', `--as=${as}:${as}`, `--nproc=${nproc}:${nproc}`, '--'],
    description:
      `per process: address space ${formatSize(as)} (RLIMIT_AS, not a total); processes ${nproc}${nprocNote}` + `; not limited: CPU, disk; ${NOT_FENCED}.`,
  };
}

/** Stdin: the metadata. Makes the folder (refusing one that exists), its workspace and its state. */
export const CREATE_SCRIPT = [
  'set -e',
  'root="$1"; id="$2"; now="$3"',
  'umask 077',
  'mkdir -p -- "$root"',
  'mkdir -- "$root/$id"',
  'mkdir -- "$root/$id/workspace"',
  'printf "running %s\\n" "$now" > "$root/$id/state"',
  'cat > "$root/$id/sandbox.json.tmp"',
  'mv -f -- "$root/$id/sandbox.json.tmp" "$root/$id/sandbox.json"',
].join('\n');

/** One line per sandbox (or only `$2`): `<id> <running|stopped> <since> <metadata on one line>`. */
export const LIST_SCRIPT = [
  'root="$1"; only="$2"',
  '[ -d "$root" ] || exit 0',
  'for dir in "$root"/*/; do',
  '  dir=${dir%/}; id=${dir##*/}',
  '  [ -z "$only" ] || [ "$id" = "$only" ] || continue',
  '  [ -f "$dir/sandbox.json" ] || continue',
  '  state=$(cat "$dir/state" 2>/dev/null || echo "running -")',
  '  printf "%s %s " "$id" "$state"; tr -d "\\n" < "$dir/sandbox.json"; echo',
  'done',
  'exit 0',
].join('\n');

export const SET_STATE_SCRIPT = [
  'umask 077; dir="$1/$2"',
  '[ -d "$dir" ] || { echo "no sandbox folder $dir" >&2; exit 3; }',
  'printf "%s %s\\n" "$3" "$4" > "$dir/state.tmp" && mv -f "$dir/state.tmp" "$dir/state"',
].join('\n');

/**
 * Removes one sandbox folder. Guarded on the remote side too: the root must be an absolute
 * `.../.agent-sandboxes/sandboxes` and the id 12 hex digits, and a link is removed as a link.
 * Files the agent made unwritable (or as root through sudo) are removed too.
 */
export const REMOVE_SCRIPT = [
  'root="$1"; id="$2"',
  'case "$root" in /*/.agent-sandboxes/sandboxes|/.agent-sandboxes/sandboxes) ;; *) echo "refusing to remove under $root" >&2; exit 2 ;; esac',
  'case "$id" in ????????????) ;; *) echo "refusing the id $id" >&2; exit 2 ;; esac',
  'case "$id" in *[!0-9a-f]*) echo "refusing the id $id" >&2; exit 2 ;; esac',
  'dir="$root/$id"',
  'if [ -L "$dir" ]; then rm -f -- "$dir"; exit 0; fi',
  '[ -e "$dir" ] || exit 0',
  'chmod -R u+rwX -- "$dir" 2>/dev/null',
  'rm -rf -- "$dir" 2>/dev/null || sudo -n rm -rf -- "$dir" 2>/dev/null',
  '[ ! -e "$dir" ] || { echo "$dir could not be removed completely" >&2; exit 1; }',
].join('\n');

export interface ListedDirectory {
  id: string;
  state: 'running' | 'stopped';
  since?: string;
  metadata: DirectoryMetadata;
}

/** Parses LIST_SCRIPT's output, keeping only well-formed entries (of this owner and host, when given). */
export function parseListing(output: string, owner?: { ownerId: string; host: string }): ListedDirectory[] {
  const listed: ListedDirectory[] = [];
  for (const line of output.split('\n')) {
    const match = /^([0-9a-f]{12}) (running|stopped) (\S+) (\{.*\})$/.exec(line);
    if (!match) continue;
    let metadata: DirectoryMetadata;
    try {
      metadata = JSON.parse(match[4]!) as DirectoryMetadata;
    } catch {
      continue; // damaged: not ours to interpret
    }
    if (
      metadata.format !== 1 ||
      (owner !== undefined && (metadata.owner !== owner.ownerId || metadata.host !== owner.host)) ||
      metadata.id !== match[1] ||
      !metadata.profile ||
      !metadata.limits
    )
      continue;
    // Anyone with the host user's account (the agent itself) can write these files: a name
    // goes into our SSH config, so only names a sandbox could have been given are taken.
    if (typeof metadata.name !== 'string' || !isValidName(metadata.name)) continue;
    if (!Array.isArray(metadata.limits.prefix) || !metadata.limits.prefix.every((part: unknown) => typeof part === 'string')) continue;
    listed.push({ id: match[1]!, state: match[2] as 'running' | 'stopped', since: match[3] === '-' ? undefined : match[3], metadata });
  }
  return listed;
}
