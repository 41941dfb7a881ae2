import * as assert from 'node:assert/strict';
import {
  DIGITALOCEAN_BILLING,
  formatUsd,
  gpuConfirmation,
  HOUR_MS,
  isGpuSize,
  machineCostAtAge,
  machineCostBetween,
  priceLine,
  snapshotCostBetween,
  type SizePrice,
} from '../../../../src/core/cost/billing';
import { monthOf } from '../../../../src/core/cost/month';

const rules = DIGITALOCEAN_BILLING;
const SMALL: SizePrice = { slug: 's-1vcpu-1gb', usdPerHour: 0.00893, vcpus: 1, memoryMb: 1024, diskGb: 25 };
const H100: SizePrice = { slug: 'gpu-h100x1-80gb', usdPerHour: 3.39, gpu: { count: 1, model: 'H100', vramGb: 80 } };
const close = (actual: number, expected: number, what: string): void => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} is not ${expected}`);

describe('cost: billing rules', function () {
  it('bills a machine per second, rounding a started second up', function () {
    close(machineCostAtAge(3.6, 120_000, rules), 0.12, '120 s at $3.60/h');
    close(machineCostAtAge(3.6, 120_001, rules), 0.121, 'a started second counts whole');
    close(machineCostAtAge(3.6, 3 * HOUR_MS, rules), 10.8, 'three hours');
  });

  it('charges at least 60 seconds, or $0.01, whichever is higher, per lifetime', function () {
    close(machineCostAtAge(3.6, 1_000, rules), 0.06, 'one second of a $3.60/h machine costs its first minute');
    close(machineCostAtAge(3.6, 59_000, rules), 0.06, 'still the minute');
    close(machineCostAtAge(3.6, 61_000, rules), 0.061, 'then per second');
    close(machineCostAtAge(SMALL.usdPerHour, 1_000, rules), 0.01, 'a cheap machine costs the $0.01 minimum');
    close(machineCostAtAge(SMALL.usdPerHour, HOUR_MS, rules), 0.01, 'an hour of $0.00893/h is still under the cent');
    close(machineCostAtAge(SMALL.usdPerHour, 2 * HOUR_MS, rules), 0.01786, 'two hours pass it');
    assert.equal(machineCostAtAge(3.6, -1, rules), 0, 'nothing before it is made');
  });

  it('splits a lifetime over months so the parts add up to the whole, the minimum in the month it was made', function () {
    const november = monthOf(Date.UTC(2026, 10, 15));
    const december = monthOf(Date.UTC(2026, 11, 15));
    const opened = november.endMs - 30_000; // 30 s before midnight
    const ended = november.endMs + 10 * 60_000;
    const inNovember = machineCostBetween(3.6, opened, ended, november.startMs, november.endMs, rules);
    const inDecember = machineCostBetween(3.6, opened, ended, december.startMs, december.endMs, rules);
    close(inNovember, 0.06, 'November carries the 60-second minimum');
    close(inNovember + inDecember, machineCostAtAge(3.6, ended - opened, rules), 'the parts add up to the lifetime');
    assert.equal(machineCostBetween(3.6, december.endMs, december.endMs + HOUR_MS, december.startMs, december.endMs, rules), 0, 'made after the window');
    assert.equal(machineCostBetween(3.6, november.startMs - HOUR_MS, november.startMs - 1, november.startMs, november.endMs, rules), 0, 'ended before it');
  });

  it('prorates snapshot storage per GB-month over the 672-hour billing month', function () {
    close(snapshotCostBetween(10, 0.06, 0, 672 * HOUR_MS, 0, 1e15, rules), 0.6, 'a whole billing month');
    close(snapshotCostBetween(10, 0.06, 0, 6.72 * HOUR_MS, 0, 1e15, rules), 0.006, 'a hundredth of it');
    close(
      snapshotCostBetween(10, 0.06, 0, 10 * HOUR_MS, 5 * HOUR_MS, 1e15, rules),
      snapshotCostBetween(10, 0.06, 0, 5 * HOUR_MS, 0, 1e15, rules),
      'only the window',
    );
    assert.equal(snapshotCostBetween(10, 0.06, 0, HOUR_MS, 2 * HOUR_MS, 3 * HOUR_MS, rules), 0, 'nothing outside it');
  });

  it('needs an explicit yes for a GPU size and shows its price', function () {
    assert.equal(isGpuSize(H100), true);
    assert.equal(isGpuSize({ slug: 'gpu-l40sx1-48gb', usdPerHour: 1.57 }), true, 'known by its slug when the listing has no gpu_info');
    assert.equal(isGpuSize(SMALL), false);
    assert.equal(priceLine(H100), 'gpu-h100x1-80gb: 1 × H100 (80 GB), $3.39/h (about $81.36 a day)');
    assert.equal(priceLine(SMALL), 's-1vcpu-1gb: 1 vCPU, 1 GB, $0.00893/h (about $0.21 a day)');
    const unconfirmed = gpuConfirmation(H100, false);
    assert.equal(unconfirmed.needed, true);
    assert.match(unconfirmed.refusal ?? '', /^gpu-h100x1-80gb: .* is a GPU size; nothing was made: confirm that price to create it \(--yes in scripts\)\.$/);
    assert.equal(gpuConfirmation(H100, true).refusal, undefined);
    assert.deepEqual(gpuConfirmation(SMALL, false), { needed: false, priceLine: priceLine(SMALL) });
  });

  it('writes amounts so small ones do not read as zero', function () {
    assert.equal(formatUsd(50), '$50.00');
    assert.equal(formatUsd(0.25), '$0.25');
    assert.equal(formatUsd(0.0089), '$0.0089');
    assert.equal(formatUsd(0), '$0.00');
  });
});
