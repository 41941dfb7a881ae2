import * as vscode from 'vscode';
import type { CostLedger } from '../../core/cost/ledger';
import type { ProviderKind, SandboxRecord } from '../../core/model';
import { providerKindInfo } from '../../core/providers/kinds';
import type { PortForward } from '../../core/ssh/forward';
import type { Cockpit } from '../cockpit';
import { cloudTooltipLines, type CloudCost } from '../cloudPresentation';
import { loadCore } from '../lazyCore';
import { contextValueOf, descriptionOf, iconOf, providerLabel, tooltipLines } from '../presentation';
import { FORWARD_CONTEXT_VALUE, forwardLabel } from '../sshModel';
import type { TaskBoard } from '../taskBoard';
import { poolMark } from '../taskPresentation';

export interface ProviderNode {
  kind: 'provider';
  provider: ProviderKind;
  count: number;
}

export interface SandboxNode {
  kind: 'sandbox';
  record: SandboxRecord;
}

/** A port of the sandbox forwarded here, shown under it. */
export interface ForwardNode {
  kind: 'forward';
  forward: PortForward;
}

export type SandboxTreeNode = ProviderNode | SandboxNode | ForwardNode;

export function isSandboxNode(value: unknown): value is SandboxNode {
  return typeof value === 'object' && value !== null && (value as SandboxNode).kind === 'sandbox' && typeof (value as SandboxNode).record === 'object';
}

export function isForwardNode(value: unknown): value is ForwardNode {
  return typeof value === 'object' && value !== null && (value as ForwardNode).kind === 'forward' && typeof (value as ForwardNode).forward === 'object';
}

/**
 * The Sandboxes view: one group per provider, one item per sandbox with its forwarded ports under
 * it; empty (so a welcome view shows) when there is nothing.
 */
export class SandboxTreeProvider implements vscode.TreeDataProvider<SandboxTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<SandboxTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;
  private loaded = false;
  private poolsShown = '';
  /** The state dir's cost ledger, read for cloud sandboxes' tooltips. */
  private ledger?: { root: string; ledger: CostLedger };

  /** With a task board, the scheduler's pool sandboxes are marked warm (or in use). */
  constructor(
    private readonly cockpit: Cockpit,
    private readonly board?: TaskBoard,
  ) {
    const subscriptions = [
      cockpit.onDidChange(() => {
        this.loaded = true;
        this.changed.fire(undefined);
      }),
    ];
    if (board) {
      subscriptions.push(
        board.onDidChange(({ timeOnly }) => {
          if (timeOnly) return;
          const pools = JSON.stringify([[...board.pools.warm], [...board.pools.busy]]);
          if (pools === this.poolsShown) return;
          this.poolsShown = pools;
          if (this.loaded) this.changed.fire(undefined);
        }),
      );
    }
    this.subscription = vscode.Disposable.from(...subscriptions);
  }

  async getChildren(node?: SandboxTreeNode): Promise<SandboxTreeNode[]> {
    if (!this.loaded) await this.cockpit.refresh();
    const records = this.cockpit.records;
    if (!node) {
      const providers = [...new Set(records.map((record) => record.provider))];
      return providers.map((provider) => ({ kind: 'provider', provider, count: records.filter((r) => r.provider === provider).length }));
    }
    if (node.kind === 'provider') {
      return records.filter((record) => record.provider === node.provider).map((record) => ({ kind: 'sandbox', record }));
    }
    if (node.kind === 'sandbox') return this.cockpit.forwardsOf(node.record.id).map((forward) => ({ kind: 'forward', forward }));
    return [];
  }

  getTreeItem(node: SandboxTreeNode): vscode.TreeItem {
    if (node.kind === 'provider') {
      const item = new vscode.TreeItem(providerLabel(node.provider), vscode.TreeItemCollapsibleState.Expanded);
      item.id = `provider:${node.provider}`;
      item.description = `${node.count}`;
      item.contextValue = `provider+${node.provider}`;
      item.iconPath = new vscode.ThemeIcon(providerKindInfo(node.provider)?.local ? 'server-environment' : 'cloud');
      return item;
    }
    if (node.kind === 'forward') return forwardItem(node.forward);
    const { record } = node;
    const hasForwards = this.cockpit.forwardsOf(record.id).length > 0;
    const item = new vscode.TreeItem(record.name, hasForwards ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
    // The workbench keeps an item's collapsed state by id and would show the first forward folded
    // away: an item with forwards is another item, which opens as it is given.
    item.id = hasForwards ? `sandbox:${record.id}:forwarding` : `sandbox:${record.id}`;
    const mark = this.board ? poolMark(record, this.board.pools) : undefined;
    item.description = mark ? `${mark} · ${descriptionOf(record)}` : descriptionOf(record);
    item.contextValue = contextValueOf(record);
    const icon = iconOf(record.state);
    item.iconPath = new vscode.ThemeIcon(icon.id, icon.color ? new vscode.ThemeColor(icon.color) : undefined);
    // A cloud sandbox's tooltip says what it has cost up to the moment it is shown: resolveTreeItem fills it on hover.
    item.tooltip = record.cloud ? undefined : new vscode.MarkdownString(tooltipLines(record).join('\n'));
    item.accessibilityInformation = { label: `${record.name}, ${record.state}` };
    return item;
  }

  async resolveTreeItem(item: vscode.TreeItem, node: SandboxTreeNode): Promise<vscode.TreeItem> {
    if (node.kind !== 'sandbox' || !node.record.cloud) return item;
    let cost: CloudCost | undefined;
    try {
      cost = await this.costOf(node.record);
    } catch (error) {
      this.cockpit.log.warn(`Could not read the cost ledger for ${node.record.name}: ${(error as Error).message}`);
    }
    item.tooltip = new vscode.MarkdownString(tooltipLines(node.record, cloudTooltipLines(node.record, cost)).join('\n'));
    return item;
  }

  /** The ledger's open entry of a sandbox's machine: its price, since when, and its time-to-live. */
  private async costOf(record: SandboxRecord): Promise<CloudCost | undefined> {
    const root = this.cockpit.stateDir();
    if (this.ledger?.root !== root) this.ledger = { root, ledger: new (loadCore().CostLedger)(root, Date.now) };
    const entry = (await this.ledger.ledger.load()).openMachineOf(record.name);
    return entry && { usdPerHour: entry.usdPerHour, openedMs: entry.openedMs, untilMs: entry.untilMs };
  }

  getParent(node: SandboxTreeNode): SandboxTreeNode | undefined {
    if (node.kind === 'provider') return undefined;
    if (node.kind === 'forward') {
      const record = this.cockpit.records.find((r) => r.id === node.forward.sandboxId);
      return record ? { kind: 'sandbox', record } : undefined;
    }
    return { kind: 'provider', provider: node.record.provider, count: 0 };
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

function forwardItem(forward: PortForward): vscode.TreeItem {
  const item = new vscode.TreeItem(forwardLabel(forward), vscode.TreeItemCollapsibleState.None);
  item.id = `forward:${forward.sandboxId}:${forward.remotePort}:${forward.localPort}`;
  item.contextValue = FORWARD_CONTEXT_VALUE;
  item.iconPath = new vscode.ThemeIcon('plug');
  item.tooltip = `Port ${forward.remotePort} of ${forward.sandboxName}, open here at ${forward.url} (over its SSH connection)`;
  item.accessibilityInformation = { label: `Port ${forward.remotePort} of ${forward.sandboxName}, forwarded to local port ${forward.localPort}` };
  return item;
}
