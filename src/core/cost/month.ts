/** Budget months are calendar months in UTC, as the provider's invoices are. */

export interface MonthWindow {
  /** `2026-12` */
  key: string;
  startMs: number;
  /** The first millisecond of the next month. */
  endMs: number;
}

const MONTH_KEY = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function monthOf(ms: number): MonthWindow {
  const date = new Date(ms);
  return monthWindow(date.getUTCFullYear(), date.getUTCMonth());
}

export function monthByKey(key: string): MonthWindow | undefined {
  const match = MONTH_KEY.exec(key);
  return match ? monthWindow(Number(match[1]), Number(match[2]) - 1) : undefined;
}

export function previousMonth(month: MonthWindow): MonthWindow {
  return monthOf(month.startMs - 1);
}

export function isMonthKey(text: string): boolean {
  return MONTH_KEY.test(text);
}

function monthWindow(year: number, monthIndex: number): MonthWindow {
  const startMs = Date.UTC(year, monthIndex, 1);
  const endMs = Date.UTC(year, monthIndex + 1, 1);
  return { key: `${year}-${String(monthIndex + 1).padStart(2, '0')}`, startMs, endMs };
}
