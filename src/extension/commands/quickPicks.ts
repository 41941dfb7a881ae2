import * as vscode from 'vscode';

/** A quick-pick row carrying the value it stands for. */
export interface Pick<T> extends vscode.QuickPickItem {
  value: T;
}

/**
 * A quick pick whose remembered choice comes first, marked as such. `items` may be a promise (a
 * listing read from the network): the pick shows busy until it settles, and rejects with its error.
 */
export async function pickWithLast<T>(
  items: Pick<T>[] | Promise<Pick<T>[]>,
  last: string | undefined,
  options: vscode.QuickPickOptions,
  key: (value: T) => string = (value) => String(value),
): Promise<T | undefined> {
  const ordered = Array.isArray(items) ? lastFirst(items, last, key) : items.then((list) => lastFirst(list, last, key));
  const picked = await vscode.window.showQuickPick(ordered, { ...options, ignoreFocusOut: true });
  return picked?.value;
}

function lastFirst<T>(items: Pick<T>[], last: string | undefined, key: (value: T) => string): Pick<T>[] {
  const index = items.findIndex((item) => key(item.value) === last);
  const ordered = index > 0 ? [items[index]!, ...items.slice(0, index), ...items.slice(index + 1)] : [...items];
  if (index >= 0) ordered[0] = { ...ordered[0]!, description: [ordered[0]!.description, '(last used)'].filter(Boolean).join(' ') };
  return ordered;
}
