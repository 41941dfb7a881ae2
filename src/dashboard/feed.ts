import type { DashboardEvent } from './protocol';

export interface FeedFilter {
  /** Types starting with this (`task.`, `exec`); empty for all. */
  type: string;
  /** A sandbox's name; empty for all. */
  sandbox: string;
  /** Text anywhere in the row, any case; empty for all. */
  text: string;
}

export function matches(event: DashboardEvent, filter: FeedFilter): boolean {
  if (filter.type && !event.type.startsWith(filter.type.trim())) return false;
  if (filter.sandbox && event.sandbox !== filter.sandbox) return false;
  const text = filter.text.trim().toLowerCase();
  if (text && !`${event.type} ${event.sandbox} ${event.task ?? ''} ${event.agent ?? ''} ${event.summary}`.toLowerCase().includes(text)) return false;
  return true;
}

function cell(text: string, className: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.className = className;
  td.textContent = text;
  return td;
}

/** The events that pass the filter, newest first. Everything is set as text: it may come from a sandbox. */
export function renderFeed(body: HTMLTableSectionElement, events: readonly DashboardEvent[], filter: FeedFilter): number {
  const shown = events.filter((event) => matches(event, filter)).reverse();
  body.replaceChildren(
    ...shown.map((event) => {
      const row = document.createElement('tr');
      row.dataset.type = event.type;
      row.dataset.sandbox = event.sandbox;
      row.append(
        cell(new Date(event.time).toLocaleTimeString(), 'time'),
        cell(event.type, 'type'),
        cell(event.sandbox || '–', 'sandbox'),
        cell(event.summary, 'summary'),
      );
      return row;
    }),
  );
  return shown.length;
}
