import { SANDBOX_MARKER_ENV } from '../hosts/directory';
import { counter, type CounterReading } from './dockerStats';

/**
 * How a machine without an engine to ask is measured, by one script over its exec channel:
 * `machine` (a droplet, or a container on a host's engine: its own cgroup where it has one,
 * else the whole machine from /proc) or `marked` (a folder sandbox sharing its host: the
 * processes carrying its marker).
 */
export type ProbeMode = 'machine' | 'marked';

/**
 * The probe: `sh -c PROBE_SCRIPT probe MODE SANDBOX_ID WORKDIR DU`. Each section is cut short
 * (`head -c`) so a machine cannot make the answer large; what is missing is left out.
 * DU=1 asks for the workspace's size by walking it (slower: the sampler asks at its disk cadence).
 */
export const PROBE_SCRIPT = `
mode=$1 id=$2 dir=$3 du=$4
cat_small() { head -c 4096 "$1" 2>/dev/null; }
echo @clk; getconf CLK_TCK 2>/dev/null
echo @stat; head -c 65536 /proc/stat 2>/dev/null | grep '^cpu '
echo @cgroup; cat_small /proc/self/cgroup
echo @cpustat; cat_small /sys/fs/cgroup/cpu.stat
echo @cpuacct; cat_small /sys/fs/cgroup/cpuacct/cpuacct.usage || cat_small /sys/fs/cgroup/cpu,cpuacct/cpuacct.usage
echo @memcurrent; cat_small /sys/fs/cgroup/memory.current || cat_small /sys/fs/cgroup/memory/memory.usage_in_bytes
echo @memmax; cat_small /sys/fs/cgroup/memory.max || cat_small /sys/fs/cgroup/memory/memory.limit_in_bytes
echo @memstat; { cat_small /sys/fs/cgroup/memory.stat || cat_small /sys/fs/cgroup/memory/memory.stat; } | grep -E '^(total_)?inactive_file '
echo @pidscurrent; cat_small /sys/fs/cgroup/pids.current || cat_small /sys/fs/cgroup/pids/pids.current
echo @meminfo; head -c 8192 /proc/meminfo 2>/dev/null | grep -E '^(MemTotal|MemAvailable):'
echo @net; head -c 65536 /proc/net/dev 2>/dev/null
echo @df; df -kP "$dir" 2>/dev/null | tail -n 1
echo @fstype; stat -f -c %T "$dir" 2>/dev/null
if [ "$du" = 1 ]; then echo @du; timeout 20 du -skx "$dir" 2>/dev/null | head -c 256; fi
echo @pids; ls /proc 2>/dev/null | grep -c '^[0-9]'
if [ "$mode" = marked ]; then
  echo @pagesize; getconf PAGESIZE 2>/dev/null
  echo @self; echo $$
  echo @procs
  for file in $(grep -lzxF "${SANDBOX_MARKER_ENV}=$id" /proc/[0-9]*/environ 2>/dev/null | head -n 4096); do
    pid=\${file#/proc/}; pid=\${pid%/environ}
    stat=$(head -c 1024 /proc/$pid/stat 2>/dev/null) || continue
    statm=$(head -c 256 /proc/$pid/statm 2>/dev/null) || continue
    printf '%s|%s|%s\\n' "$pid" "\${stat##*) }" "$statm"
  done
fi
echo @end
`;

/** What one probe answer says; fields it could not tell are left out. */
export interface ProbeReading extends CounterReading {
  diskBytes?: number;
}

const MAX_ANSWER_CHARS = 512 * 1024;
const MAX_LINES_PER_SECTION = 8192;

/** The answer's sections by name (`@net` ...), each a list of lines; bounded in size and number. */
export function probeSections(answer: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of answer.slice(0, MAX_ANSWER_CHARS).split('\n')) {
    const header = /^@([a-z]+)$/.exec(line.trim());
    if (header) {
      current = [];
      if (!sections.has(header[1]!)) sections.set(header[1]!, current);
      continue;
    }
    if (current && current.length < MAX_LINES_PER_SECTION && line.trim() !== '') current.push(line.trim());
  }
  return sections;
}

function first(sections: Map<string, string[]>, name: string): string | undefined {
  return sections.get(name)?.[0];
}

function numberIn(text: string | undefined): number | undefined {
  return text === undefined ? undefined : counter(text.trim());
}

/** Busy CPU time from /proc/stat's `cpu` line: everything but idle and iowait, in nanoseconds. */
export function procStatCpuNanos(line: string | undefined, clockTicks: number): number | undefined {
  const fields = line?.split(/\s+/) ?? [];
  if (fields[0] !== 'cpu' || fields.length < 5) return undefined;
  const values = fields.slice(1, 11).map((field) => counter(field));
  if (values.some((value) => value === undefined)) return undefined;
  const [user, nice, system, , , irq = 0, softirq = 0, steal = 0] = values as number[];
  return ((user! + nice! + system! + irq + softirq + steal) * 1e9) / clockTicks;
}

/** Bytes received and sent over every interface but loopback, from /proc/net/dev. */
export function procNetDev(lines: readonly string[]): { rx: number; tx: number } | undefined {
  let rx = 0;
  let tx = 0;
  let seen = false;
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === 'lo') continue;
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    const received = counter(fields[0]);
    const sent = counter(fields[8]);
    if (received === undefined || sent === undefined) continue;
    rx += received;
    tx += sent;
    seen = true;
  }
  return seen ? { rx, tx } : undefined;
}

/** Whether the probe ran at the root of a container's own cgroup (its figures are the container's). */
export function inContainerCgroup(lines: readonly string[]): boolean {
  return lines.some((line) => line === '0::/' || /^\d+:[^:]*:\/(docker|lxc|kubepods|libpod|system\.slice\/docker-)/.test(line));
}

/**
 * A marked process's pid, `stat` past the name, and `statm`: CPU time (children's included) and
 * resident bytes. The probe itself and what it started carry the marker too: they are left out.
 */
function markedProcess(line: string, clockTicks: number, pageSize: number, probe: number | undefined): { cpuNanos: number; rssBytes: number } | undefined {
  const [pid, stat, statm] = line.split('|');
  const fields = stat?.split(/\s+/) ?? [];
  if (probe !== undefined && (counter(pid) === probe || counter(fields[1]) === probe)) return undefined;
  // After "pid (name) ": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const times = [fields[11], fields[12], fields[13], fields[14]].map((field) => counter(field));
  const rssPages = counter(statm?.split(/\s+/)[1]);
  if (times.some((time) => time === undefined) || rssPages === undefined) return undefined;
  const ticks = (times as number[]).reduce((sum, time) => sum + time, 0);
  return { cpuNanos: (ticks * 1e9) / clockTicks, rssBytes: rssPages * pageSize };
}

/** A probe's answer as numbers; never throws, whatever the machine printed. */
export function parseProbe(answer: string, mode: ProbeMode): ProbeReading {
  const sections = probeSections(answer);
  const clockTicks = numberIn(first(sections, 'clk')) || 100;
  const reading: ProbeReading = {};
  const net = procNetDev(sections.get('net') ?? []);
  if (net) {
    reading.netRxBytes = net.rx;
    reading.netTxBytes = net.tx;
  }
  const du = numberIn(first(sections, 'du')?.split(/\s+/)[0]);
  if (du !== undefined) reading.diskBytes = du * 1024;

  if (mode === 'marked') {
    const pageSize = numberIn(first(sections, 'pagesize')) || 4096;
    const probe = numberIn(first(sections, 'self'));
    const processes = (sections.get('procs') ?? []).map((line) => markedProcess(line, clockTicks, pageSize, probe)).filter((p) => p !== undefined);
    reading.cpuNanos = processes.reduce((sum, p) => sum + p.cpuNanos, 0);
    reading.memoryBytes = processes.reduce((sum, p) => sum + p.rssBytes, 0);
    reading.pids = processes.length;
    return reading;
  }

  const meminfo = new Map(
    (sections.get('meminfo') ?? []).map((line) => {
      const [key, value] = line.split(/:\s*/);
      return [key ?? '', (numberIn(value?.split(/\s+/)[0]) ?? 0) * 1024] as const;
    }),
  );
  if (inContainerCgroup(sections.get('cgroup') ?? [])) {
    const usageMicros = numberIn(
      sections
        .get('cpustat')
        ?.find((line) => line.startsWith('usage_usec '))
        ?.split(/\s+/)[1],
    );
    const cpuacctNanos = numberIn(first(sections, 'cpuacct'));
    reading.cpuNanos = usageMicros !== undefined ? usageMicros * 1000 : cpuacctNanos;
    const current = numberIn(first(sections, 'memcurrent'));
    const inactive = numberIn(first(sections, 'memstat')?.split(/\s+/)[1]) ?? 0;
    if (current !== undefined) reading.memoryBytes = inactive < current ? current - inactive : current;
    const limit = numberIn(first(sections, 'memmax'));
    const total = meminfo.get('MemTotal');
    // "max" (v2) or a huge number (v1) means no limit of its own: the machine's memory is the bound.
    reading.memoryLimitBytes = limit !== undefined && (!total || limit < total) ? limit : total || undefined;
    const pids = numberIn(first(sections, 'pidscurrent')) ?? numberIn(first(sections, 'pids'));
    if (pids !== undefined) reading.pids = pids;
  } else {
    reading.cpuNanos = procStatCpuNanos(first(sections, 'stat'), clockTicks);
    const total = meminfo.get('MemTotal');
    const available = meminfo.get('MemAvailable');
    if (total && available !== undefined && available <= total) reading.memoryBytes = total - available;
    if (total) reading.memoryLimitBytes = total;
    const pids = numberIn(first(sections, 'pids'));
    if (pids !== undefined) reading.pids = pids;
    // A machine of its own: the used space of the workspace's filesystem, cheap to read each time.
    const fsType = first(sections, 'fstype');
    const used = numberIn(first(sections, 'df')?.split(/\s+/)[2]);
    if (reading.diskBytes === undefined && used !== undefined && fsType !== 'overlayfs' && fsType !== 'overlay') reading.diskBytes = used * 1024;
  }
  for (const key of Object.keys(reading) as (keyof ProbeReading)[]) if (reading[key] === undefined) delete reading[key];
  return reading;
}
