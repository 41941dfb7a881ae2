import type { DashboardTask } from './protocol';

/** The task timeline: one row per attempt, a bar from its placement to its end (or now). */
export function renderTimeline(container: HTMLElement, tasks: readonly DashboardTask[], now: number): void {
  container.replaceChildren();
  if (tasks.length === 0) {
    const empty = document.createElement('p');
    empty.className = 'empty';
    empty.textContent = 'No task ran in the last hour.';
    container.append(empty);
    return;
  }
  const startOf = (task: DashboardTask) => task.placed ?? task.started ?? task.ended ?? now;
  const from = Math.min(...tasks.map(startOf));
  const span = Math.max(now - from, 60_000);
  for (const task of tasks) {
    const row = document.createElement('div');
    row.className = 'task-row';
    row.dataset.task = task.task;
    row.dataset.state = task.ended === undefined ? (task.started === undefined ? 'placed' : 'running') : (task.outcome ?? 'ended');
    const label = document.createElement('span');
    label.className = 'task-label';
    label.textContent = `${task.task} #${task.attempt} · ${task.sandbox}`;
    label.title = label.textContent;
    const track = document.createElement('span');
    track.className = 'task-track';
    const bar = document.createElement('span');
    bar.className = 'task-bar';
    const start = startOf(task);
    const end = task.ended ?? now;
    bar.style.left = `${((start - from) / span) * 100}%`;
    bar.style.width = `${Math.max(((end - start) / span) * 100, 0.5)}%`;
    const seconds = Math.round((end - start) / 1000);
    bar.title = `${row.dataset.state}, ${seconds} s`;
    track.append(bar);
    const state = document.createElement('span');
    state.className = 'task-state';
    state.textContent = task.ended === undefined ? `${row.dataset.state} · ${seconds} s` : `${row.dataset.state} · ${seconds} s`;
    row.append(label, track, state);
    container.append(row);
  }
}
