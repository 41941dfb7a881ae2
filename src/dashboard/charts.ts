import uPlot from 'uplot';
import type { SampleSeries } from './protocol';

/** One card's charts: CPU, memory and network, each a small uPlot over the same time axis. */
export type ChartName = 'cpu' | 'memory' | 'network';

const WIDTH = 300;
const HEIGHT = 110;

function bytes(value: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let unit = 0;
  let shown = Math.abs(value);
  while (shown >= 1024 && unit < units.length - 1) {
    shown /= 1024;
    unit++;
  }
  return `${value < 0 ? '-' : ''}${shown >= 100 || unit === 0 ? shown.toFixed(0) : shown.toFixed(1)} ${units[unit]}`;
}

export function formatBytes(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : bytes(value);
}

export function formatRate(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : `${bytes(value)}/s`;
}

function options(name: ChartName, color: string): uPlot.Options {
  const axisColor = getComputedStyle(document.body).getPropertyValue('--dashboard-muted').trim() || '#999';
  const axis = (values?: uPlot.Axis['values']): uPlot.Axis => ({
    stroke: axisColor,
    grid: { stroke: 'rgba(128,128,128,0.15)', width: 1 },
    ticks: { show: false },
    size: 50,
    font: '10px system-ui, sans-serif',
    ...(values ? { values } : {}),
  });
  // Seconds only when the ticks are less than a minute apart.
  const clock = (_: uPlot, ticks: number[]) => {
    const seconds = ticks.length > 1 && ticks[1]! - ticks[0]! < 60;
    return ticks.map((tick) => new Date(tick * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}) }));
  };
  const time: uPlot.Axis = { ...axis(clock), size: 24 };
  const byteTicks = (_: uPlot, ticks: number[]) => ticks.map((tick) => bytes(tick));
  const series: uPlot.Series[] =
    name === 'cpu'
      ? [{}, { label: 'CPU %', stroke: color, width: 1.5, fill: `${color}22`, value: (_, v) => (v === null ? '–' : `${v.toFixed(1)} %`) }]
      : name === 'memory'
        ? [{}, { label: 'Memory', stroke: color, width: 1.5, fill: `${color}22`, value: (_, v) => formatBytes(v) }]
        : [
            {},
            { label: 'In', stroke: color, width: 1.5, value: (_, v) => formatRate(v) },
            { label: 'Out', stroke: '#d08770', width: 1.5, value: (_, v) => formatRate(v) },
          ];
  return {
    width: WIDTH,
    height: HEIGHT,
    legend: { show: false },
    cursor: { show: true, points: { show: false } },
    scales: { x: { time: true }, y: { range: (_, min, max) => (name === 'cpu' ? [0, Math.max(100, max)] : [0, Math.max(max, min + 1) * 1.1]) } },
    axes: [time, name === 'cpu' ? axis((_, ticks) => ticks.map((t) => `${t}%`)) : axis(byteTicks)],
    series,
  };
}

/** The chart's data for uPlot: the shared time axis, then its series. */
export function chartData(name: ChartName, series: SampleSeries): uPlot.AlignedData {
  if (name === 'cpu') return [series.time, series.cpu];
  if (name === 'memory') return [series.time, series.memory];
  return [series.time, series.rx, series.tx];
}

export class CardCharts {
  private readonly charts = new Map<ChartName, uPlot>();

  constructor(container: HTMLElement, series: SampleSeries) {
    const colors: Record<ChartName, string> = { cpu: '#5e81ac', memory: '#a3be8c', network: '#88c0d0' };
    for (const name of ['cpu', 'memory', 'network'] as const) {
      const holder = document.createElement('div');
      holder.className = 'chart';
      holder.dataset.chart = name;
      const title = document.createElement('div');
      title.className = 'chart-title';
      title.textContent = name === 'cpu' ? 'CPU' : name === 'memory' ? 'Memory' : 'Network in / out';
      holder.append(title);
      container.append(holder);
      this.charts.set(name, new uPlot(options(name, colors[name]), chartData(name, series), holder));
    }
  }

  update(series: SampleSeries): void {
    for (const [name, chart] of this.charts) chart.setData(chartData(name, series));
  }

  destroy(): void {
    for (const chart of this.charts.values()) chart.destroy();
    this.charts.clear();
  }
}
