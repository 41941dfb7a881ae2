/**
 * The dashboard page: a card with live charts per running sandbox, its desktop's thumbnail,
 * the task timeline, the event feed and the month's cost. It runs in a VS Code webview (updates
 * by postMessage from the extension host) or in a browser page served by `sandbox dashboard`
 * (updates as server-sent events). Both hosts send a snapshot, then deltas.
 */
import 'uplot/dist/uPlot.min.css';
import './dashboard.css';
import { CardCharts, formatBytes, formatRate } from './charts';
import { renderFeed, type FeedFilter } from './feed';
import type {
  DashboardConfig,
  DashboardCost,
  DashboardEvent,
  DashboardRequest,
  DashboardSandbox,
  DashboardTask,
  DashboardUpdate,
  SampleSeries,
} from './protocol';
import { appendSeries } from './protocol';
import { renderTimeline } from './timeline';

interface VsCodeApi {
  postMessage(message: DashboardRequest): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

/** What the page shows, readable by tests as `window.dashboardState` (series by sandbox name). */
interface DashboardState {
  sandboxes: DashboardSandbox[];
  /** By sandbox name. */
  series: Record<string, SampleSeries>;
  events: DashboardEvent[];
  tasks: DashboardTask[];
  cost: DashboardCost | null;
  problems: string[];
  /** How many updates arrived: a test waits for it to grow. */
  updates: number;
}
declare global {
  interface Window {
    dashboardState: DashboardState;
  }
}

const MAX_EVENTS = 500;
const config = JSON.parse(document.getElementById('dashboard-config')?.textContent ?? '{}') as DashboardConfig;
const state: DashboardState = { sandboxes: [], series: {}, events: [], tasks: [], cost: null, problems: [], updates: 0 };
window.dashboardState = state;
/** Series by sandbox id (the state's are by name, for people and tests). */
const seriesById = new Map<string, SampleSeries>();
const cards = new Map<string, { element: HTMLElement; charts: CardCharts; figures: HTMLElement; thumbnail?: HTMLImageElement }>();
let windowMs = 10 * 60_000;
let hostNow = Date.now();

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`The dashboard page lacks #${id}.`);
  return found as T;
}

const vscodeApi = config.transport === 'vscode' ? acquireVsCodeApi() : undefined;

function openDesktop(sandboxId: string): void {
  if (vscodeApi) vscodeApi.postMessage({ type: 'openDesktop', sandboxId });
  // The server starts the `sandbox desktop` page of that sandbox and sends the browser on to it.
  else window.open(`/desktop/${encodeURIComponent(sandboxId)}`, '_blank', 'noopener');
}

function last<T>(values: readonly T[]): T | undefined {
  return values[values.length - 1];
}

function makeCard(sandbox: DashboardSandbox) {
  const element = document.createElement('article');
  element.className = 'card';
  element.dataset.sandbox = sandbox.name;
  element.dataset.sandboxId = sandbox.id;
  const header = document.createElement('header');
  const name = document.createElement('span');
  name.className = 'name';
  const meta = document.createElement('span');
  meta.className = 'meta';
  header.append(name, meta);
  const figures = document.createElement('div');
  figures.className = 'figures';
  element.append(header);
  let thumbnail: HTMLImageElement | undefined;
  if (sandbox.desktop) {
    thumbnail = document.createElement('img');
    thumbnail.className = 'thumbnail';
    thumbnail.alt = `The desktop of ${sandbox.name}`;
    thumbnail.title = 'Open this desktop';
    thumbnail.tabIndex = 0;
    thumbnail.addEventListener('click', () => openDesktop(sandbox.id));
    thumbnail.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') openDesktop(sandbox.id);
    });
    element.append(thumbnail);
  }
  element.append(figures);
  const charts = new CardCharts(element, seriesById.get(sandbox.id) ?? { time: [], cpu: [], memory: [], rx: [], tx: [] });
  return { element, charts, figures, thumbnail };
}

function renderCards(): void {
  const container = element('cards');
  const wanted = new Set(state.sandboxes.map((sandbox) => sandbox.id));
  for (const [id, card] of cards) {
    if (wanted.has(id)) continue;
    card.charts.destroy();
    card.element.remove();
    cards.delete(id);
  }
  for (const sandbox of state.sandboxes) {
    let card = cards.get(sandbox.id);
    if (card && Boolean(card.thumbnail) !== sandbox.desktop) {
      card.charts.destroy();
      card.element.remove();
      cards.delete(sandbox.id);
      card = undefined;
    }
    if (!card) {
      card = makeCard(sandbox);
      cards.set(sandbox.id, card);
    }
    container.append(card.element); // keeps the list's order
    card.element.querySelector('.name')!.textContent = sandbox.name;
    card.element.querySelector('.meta')!.textContent = [sandbox.state, sandbox.provider, sandbox.agent].filter(Boolean).join(' · ');
    card.element.dataset.state = sandbox.state;
    if (card.thumbnail && sandbox.thumbnail && card.thumbnail.getAttribute('src') !== sandbox.thumbnail) card.thumbnail.src = sandbox.thumbnail;
  }
  element('no-sandboxes').hidden = state.sandboxes.length > 0;
  renderFigures();
}

function renderFigures(): void {
  for (const sandbox of state.sandboxes) {
    const card = cards.get(sandbox.id);
    const series = seriesById.get(sandbox.id);
    if (!card) continue;
    card.element.dataset.points = String(series?.time.length ?? 0);
    if (!series || series.time.length === 0) {
      card.figures.textContent = 'No samples yet';
      continue;
    }
    card.figures.textContent = `CPU ${last(series.cpu)!.toFixed(1)} % · memory ${formatBytes(last(series.memory))} · in ${formatRate(last(series.rx))} · out ${formatRate(last(series.tx))}`;
    card.charts.update(series);
  }
}

function usd(value: number): string {
  return `${value < 0 ? '-' : ''}$${Math.abs(value).toFixed(2)}`;
}

function renderCost(): void {
  const cost = state.cost;
  const text = element('cost-text');
  const bar = element('cost-bar');
  if (!cost) {
    text.textContent = 'Cost: not known';
    bar.style.width = '0%';
    return;
  }
  text.textContent = `${cost.month}: ${usd(cost.spentUsd)} spent, ${usd(cost.committedUsd)} committed of ${usd(cost.budgetUsd)}`;
  const share = cost.budgetUsd > 0 ? Math.min(cost.committedUsd / cost.budgetUsd, 1) : 0;
  bar.style.width = `${(share * 100).toFixed(1)}%`;
  element('cost').dataset.level = share >= 1 ? 'over' : share >= 0.8 ? 'high' : 'ok';
}

function filter(): FeedFilter {
  return {
    type: element<HTMLInputElement>('filter-type').value,
    sandbox: element<HTMLSelectElement>('filter-sandbox').value,
    text: element<HTMLInputElement>('filter-text').value,
  };
}

function renderEvents(): void {
  const select = element<HTMLSelectElement>('filter-sandbox');
  const names = [...new Set([...state.sandboxes.map((s) => s.name), ...state.events.map((e) => e.sandbox).filter(Boolean)])].sort();
  const current = [...select.options].slice(1).map((option) => option.value);
  if (JSON.stringify(current) !== JSON.stringify(names)) {
    const chosen = select.value;
    select.replaceChildren(new Option('every sandbox', ''), ...names.map((name) => new Option(name, name)));
    select.value = names.includes(chosen) ? chosen : '';
  }
  const shown = renderFeed(element<HTMLTableSectionElement>('events-body'), state.events, filter());
  element('feed-count').textContent = `${shown} of ${state.events.length}`;
}

function renderProblems(): void {
  const list = element('problems');
  list.replaceChildren(
    ...state.problems.map((problem) => {
      const item = document.createElement('li');
      item.textContent = problem;
      return item;
    }),
  );
  list.hidden = state.problems.length === 0;
}

function syncNames(): void {
  state.series = Object.fromEntries(state.sandboxes.filter((s) => seriesById.has(s.id)).map((s) => [s.name, seriesById.get(s.id)!]));
}

function apply(update: DashboardUpdate): void {
  hostNow = update.now;
  if (update.type === 'snapshot') {
    windowMs = update.windowMs;
    seriesById.clear();
    for (const [id, series] of Object.entries(update.series)) seriesById.set(id, series);
    state.events = [];
  }
  for (const [id, more] of Object.entries(update.series))
    if (update.type === 'delta') seriesById.set(id, appendSeries(seriesById.get(id), more, (hostNow - windowMs) / 1000));
  if (update.sandboxes) state.sandboxes = update.sandboxes;
  for (const id of [...seriesById.keys()]) if (!state.sandboxes.some((s) => s.id === id)) seriesById.delete(id);
  if (update.events.length > 0) state.events = [...state.events, ...update.events].slice(-MAX_EVENTS);
  if (update.tasks) state.tasks = update.tasks;
  if (update.cost !== undefined) state.cost = update.cost;
  if (update.problems) state.problems = update.problems;
  syncNames();
  if (update.type === 'snapshot' || update.sandboxes) renderCards();
  else renderFigures();
  if (update.type === 'snapshot' || update.events.length > 0 || update.sandboxes) renderEvents();
  renderTimeline(element('tasks'), state.tasks, hostNow);
  if (update.type === 'snapshot' || update.cost !== undefined) renderCost();
  if (update.type === 'snapshot' || update.problems) renderProblems();
  state.updates++;
  document.body.dataset.updates = String(state.updates);
  element('status').textContent = `Updated ${new Date(update.now).toLocaleTimeString()}`;
}

for (const id of ['filter-type', 'filter-text']) element(id).addEventListener('input', renderEvents);
element('filter-sandbox').addEventListener('change', renderEvents);

// A refusal is a bug of this page: the webview's host logs it (a browser's console shows it already).
document.addEventListener('securitypolicyviolation', (event) =>
  vscodeApi?.postMessage({ type: 'refused', directive: event.effectiveDirective, blocked: event.blockedURI }),
);

if (vscodeApi) {
  window.addEventListener('message', (event: MessageEvent<DashboardUpdate>) => apply(event.data));
  vscodeApi.postMessage({ type: 'ready' });
} else {
  const source = new EventSource('/updates');
  source.onmessage = (event: MessageEvent<string>) => apply(JSON.parse(event.data) as DashboardUpdate);
  source.onerror = () => {
    element('status').textContent = 'The dashboard server does not answer; retrying…';
  };
}
