import * as vscode from 'vscode';
import type { ProviderKind, SandboxRecord } from '../../core/model';
import type { Cockpit } from '../cockpit';
import { contextValueOf, descriptionOf, iconOf, providerLabel, tooltipLines } from '../presentation';

export interface ProviderNode {
  kind: 'provider';
  provider: ProviderKind;
  count: number;
}

export interface SandboxNode {
  kind: 'sandbox';
  record: SandboxRecord;
}

export type SandboxTreeNode = ProviderNode | SandboxNode;

export function isSandboxNode(value: unknown): value is SandboxNode {
  return typeof value === 'object' && value !== null && (value as SandboxNode).kind === 'sandbox' && typeof (value as SandboxNode).record === 'object';
}

/** The Sandboxes view: one group per provider, one item per sandbox; empty (so a welcome view shows) when there is nothing. */
export class SandboxTreeProvider implements vscode.TreeDataProvider<SandboxTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<SandboxTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;
  private loaded = false;

  constructor(private readonly cockpit: Cockpit) {
    this.subscription = cockpit.onDidChange(() => {
      this.loaded = true;
      this.changed.fire(undefined);
    });
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
    return [];
  }

  getTreeItem(node: SandboxTreeNode): vscode.TreeItem {
    if (node.kind === 'provider') {
      const item = new vscode.TreeItem(providerLabel(node.provider), vscode.TreeItemCollapsibleState.Expanded);
      item.id = `provider:${node.provider}`;
      item.description = `${node.count}`;
      item.contextValue = `provider+${node.provider}`;
      item.iconPath = new vscode.ThemeIcon(node.provider === 'docker' ? 'server-environment' : 'cloud');
      return item;
    }
    const { record } = node;
    const item = new vscode.TreeItem(record.name, vscode.TreeItemCollapsibleState.None);
    item.id = `sandbox:${record.id}`;
    item.description = descriptionOf(record);
    item.contextValue = contextValueOf(record);
    const icon = iconOf(record.state);
    item.iconPath = new vscode.ThemeIcon(icon.id, icon.color ? new vscode.ThemeColor(icon.color) : undefined);
    item.tooltip = new vscode.MarkdownString(tooltipLines(record).join('\n'));
    item.accessibilityInformation = { label: `${record.name}, ${record.state}` };
    return item;
  }

  getParent(node: SandboxTreeNode): SandboxTreeNode | undefined {
    if (node.kind === 'provider') return undefined;
    return { kind: 'provider', provider: node.record.provider, count: 0 };
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
