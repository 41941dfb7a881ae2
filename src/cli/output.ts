import { formatDuration } from '../app/format';
import type { SandboxRecord } from '../core/model';
import { formatSize } from '../core/profile';
import { describeNetworkPolicy } from '../core/network/policy';
import { isCloudMachine } from '../core/providers/kinds';

/** A one-line progress display on a terminal; silent elsewhere so logs and pipes stay clean. */
export class ProgressLine {
  private readonly enabled: boolean;
  private lastWidth = 0;
  private readonly started = Date.now();

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = Boolean(stream.isTTY);
  }

  update(message: string, fraction?: number): void {
    if (!this.enabled) return;
    const seconds = ((Date.now() - this.started) / 1000).toFixed(1);
    const bar = fraction === undefined ? '' : `${renderBar(fraction)} `;
    const columns = this.stream.columns ?? 80;
    const line = `${bar}${message} (${seconds}s)`.slice(0, columns - 1);
    this.stream.write(`\r${line}${' '.repeat(Math.max(0, this.lastWidth - line.length))}`);
    this.lastWidth = line.length;
  }

  done(): void {
    if (!this.enabled || this.lastWidth === 0) return;
    this.stream.write(`\r${' '.repeat(this.lastWidth)}\r`);
    this.lastWidth = 0;
  }
}

function renderBar(fraction: number): string {
  const width = 20;
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export function describeProfile(record: SandboxRecord): string {
  return `${record.profile.cpus} cpu, ${formatSize(record.profile.memory)}`;
}

export function renderTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n');
}

export function listTable(records: SandboxRecord[], now = Date.now()): string {
  const rows = [['ID', 'NAME', 'STATE', 'AGENT', 'PROFILE', 'UPTIME', 'SSH']];
  for (const record of records) {
    const uptime = record.state === 'running' && record.startedAt ? formatDuration(now - Date.parse(record.startedAt)) : '-';
    const ssh = record.ports['22'] ? `127.0.0.1:${record.ports['22']}` : record.placement ? `host ${record.placement.host}` : '-';
    rows.push([record.id, record.name, record.state, record.agentId, describeProfile(record), uptime, ssh]);
  }
  return renderTable(rows);
}

export function statusText(record: SandboxRecord): string {
  const lines: [string, string][] = [
    ['id', record.id],
    ['name', record.name],
    ['state', record.state],
    ['agent', record.agentId],
    ['provider', record.provider],
    ...(record.placement
      ? [['host', `${record.placement.host} (${record.placement.kind === 'container' ? 'a container there' : 'a folder there'})`] as [string, string]]
      : []),
    ...(record.profile.image ? [['image', record.profile.image] as [string, string]] : []),
    ['cpus', String(record.profile.cpus)],
    ['memory', formatSize(record.profile.memory)],
    ['pids', String(record.profile.pids)],
    ['user', `${record.user}${record.profile.sudo ? ' (sudo)' : ''}`],
    ['workdir', record.workdir],
    ['created', record.createdAt],
  ];
  lines.push(['network', networkText(record)]);
  if (record.startedAt) lines.push(['started', record.startedAt]);
  if (record.stoppedAt) lines.push(['stopped', record.stoppedAt]);
  for (const [inside, outside] of Object.entries(record.ports)) lines.push([`port ${inside}`, `127.0.0.1:${outside}`]);
  if (record.limits) lines.push(['limits', record.limits]);
  if (record.problem) lines.push(['problem', record.problem]);
  const width = Math.max(...lines.map(([key]) => key.length));
  return lines.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n');
}

/** The network line of `status`: the policy, or that a folder sandbox has none. */
function networkText(record: SandboxRecord): string {
  if (record.placement?.kind === 'directory') return "not fenced (a folder sandbox uses the host's network as its user)";
  const hosts = record.profile.hosts?.length ? `; hosts ${record.profile.hosts.join(', ')}` : '';
  return `${describeNetworkPolicy(record.profile.network, isCloudMachine(record.provider))}${hosts}`;
}
