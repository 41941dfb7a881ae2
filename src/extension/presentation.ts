import { formatDuration } from '../app/format';
import { formatSize } from '../core/profile';
import type { ProviderKind, SandboxRecord, SandboxState } from '../core/model';
import { providerKindLabel } from '../core/providers/kinds';
import { cloudDescriptionOf } from './cloudPresentation';

/**
 * How a sandbox looks in the tree, the status bar and quick picks. No vscode import: tested in
 * plain Node; the view turns these plain values into TreeItems.
 */

/** Tags joined with `+`, matched in package.json with `viewItem =~ /\+running(\+|$)/` and the like. */
export function contextValueOf(record: SandboxRecord): string {
  const tags = ['sandbox', record.provider, record.state];
  if (record.state === 'running') tags.push('terminal');
  if (record.profile.desktop) tags.push('desktop');
  return tags.join('+');
}

export interface IconSpec {
  /** A codicon id. */
  id: string;
  /** A theme color id, or none for the default foreground. */
  color?: string;
}

export function iconOf(state: SandboxState): IconSpec {
  switch (state) {
    case 'creating':
      return { id: 'loading~spin' };
    case 'running':
      return { id: 'vm-running', color: 'testing.iconPassed' };
    case 'stopped':
      return { id: 'vm-outline', color: 'disabledForeground' };
    case 'error':
      return { id: 'error', color: 'errorForeground' };
    case 'lost':
      return { id: 'warning', color: 'list.warningForeground' };
  }
}

/** `2 CPU · 2 GiB · up 5m`, or the state when it is not running; a cloud sandbox shows its region and price per hour first. */
export function descriptionOf(record: SandboxRecord, now = Date.now()): string {
  const cloud = cloudDescriptionOf(record, now);
  if (cloud) return cloud;
  const profile = `${record.profile.cpus} CPU · ${formatSize(record.profile.memory)}`;
  if (record.state === 'running' && record.startedAt) return `${profile} · up ${formatDuration(now - Date.parse(record.startedAt))}`;
  return `${profile} · ${record.state}`;
}

/** Markdown lines for the item's tooltip; `more` (a cloud sandbox's cost, say) goes before any problem. */
export function tooltipLines(record: SandboxRecord, more: string[] = []): string[] {
  const ports = Object.entries(record.ports);
  const lines = [
    `**${record.name}** — ${record.state}`,
    '',
    `- id: \`${record.id}\``,
    `- agent: ${record.agentId}`,
    `- image: \`${record.profile.image}\``,
    `- profile: ${record.profile.cpus} CPU, ${formatSize(record.profile.memory)}, ${record.profile.pids} processes${record.profile.sudo ? ', sudo' : ''}${record.profile.desktop ? `, desktop ${record.profile.desktop}` : ''}`,
    `- ports: ${ports.length ? ports.map(([inside, local]) => `${inside} → 127.0.0.1:${local}`).join(', ') : 'none'}`,
    `- created: ${new Date(record.createdAt).toLocaleString()}`,
    ...more,
  ];
  if (record.problem) lines.push('', `⚠ ${record.problem}`);
  return lines;
}

/** A kind's name as the provider registry gives it. */
export function providerLabel(kind: ProviderKind): string {
  return providerKindLabel(kind);
}

/** The status bar text: the number of running sandboxes. */
export function statusBarText(records: SandboxRecord[]): { text: string; tooltip: string } {
  const running = records.filter((record) => record.state === 'running').length;
  const total = records.length;
  const tooltip = total === 0 ? 'No sandboxes; click to start one' : `${running} of ${total} sandbox${total === 1 ? '' : 'es'} running; click to pick one`;
  return { text: `$(vm) ${running}`, tooltip };
}

/** What deleting these sandboxes throws away, in one sentence for the confirmation. */
export function deleteWarning(records: SandboxRecord[]): string {
  const names = records.map((record) => record.name);
  const subject = names.length === 1 ? `the sandbox ${names[0]}` : `${names.length} sandboxes (${names.join(', ')})`;
  const running = records.filter((record) => record.state === 'running').length;
  const stopping = running
    ? ` ${running === 1 && names.length === 1 ? 'It is running and will be stopped.' : `${running} of them are running and will be stopped.`}`
    : '';
  return `Delete ${subject}? Every file inside, including work not pulled back, and ${names.length === 1 ? 'its' : 'their'} exec and sync history are lost.${stopping}`;
}

/** `NAME-20261125-142501.png` (local time): screenshots sort by time and never clash with an earlier one. */
export function screenshotFileName(sandboxName: string, now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  return `${sandboxName}-${stamp}.png`;
}
