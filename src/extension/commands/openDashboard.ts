import type { DashboardPanel } from '../dashboardPanel';

/** Open Dashboard: live charts, tasks, events and cost of every sandbox, in one panel. */
export function openDashboardCommand(dashboard: DashboardPanel) {
  return () => {
    dashboard.open();
  };
}
