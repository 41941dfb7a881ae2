import * as assert from 'node:assert/strict';
import type { SandboxRecord, SandboxState } from '../../../../src/core/model';
import {
  MEASURE_SCRIPT,
  choosePlacement,
  dockerTarget,
  parseMachineReport,
  reservedByTarget,
  sshTarget,
  targetKeyOf,
  type PlacementTarget,
  type PlacementView,
  type Resources,
} from '../../../../src/core/tasks/placement';

const GiB = 1024 ** 3;

function view(target: PlacementTarget, capacity: Resources, extra: Partial<PlacementView> = {}): PlacementView {
  return { target, capacity: { ...capacity, declared: false }, reserved: { cpus: 0, memory: 0 }, reachable: true, ...extra };
}

let serial = 0;
function record(fields: Partial<SandboxRecord> & { cpus?: number; memory?: number; state?: SandboxState }): SandboxRecord {
  const { cpus = 1, memory = GiB, ...rest } = fields;
  serial += 1;
  return {
    id: serial.toString(16).padStart(12, '0'),
    name: `sandbox-${serial}`,
    agentId: 'agent',
    provider: 'docker',
    profile: { image: 'img', cpus, memory, pids: 512, sudo: true },
    state: 'running',
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    workdir: '/workspace',
    user: 'agent',
    ports: {},
    ...rest,
  };
}

/** Places `count` sandboxes one by one, each added to the chosen view's reserved; the keys chosen, in order. */
function placeInTurn(views: PlacementView[], demand: Resources, count: number): Array<string | undefined> {
  const chosen: Array<string | undefined> = [];
  for (let i = 0; i < count; i++) {
    const placed = choosePlacement(views, demand);
    chosen.push(placed?.target.key);
    if (placed) placed.reserved = { cpus: placed.reserved.cpus + demand.cpus, memory: placed.reserved.memory + demand.memory };
  }
  return chosen;
}

describe('task placement', function () {
  describe('choosePlacement', function () {
    it('spreads in proportion to capacity: 2 and 6 CPUs take 2 and 6 of 8, interleaved on the way', function () {
      const small = view(sshTarget('small'), { cpus: 2, memory: 64 * GiB });
      const large = view(sshTarget('large'), { cpus: 6, memory: 64 * GiB });
      const chosen = placeInTurn([small, large], { cpus: 1, memory: GiB }, 8);
      assert.ok(
        chosen.every((key) => key !== undefined),
        `all 8 placed: ${chosen.join(', ')}`,
      );
      for (let n = 1; n <= chosen.length; n++) {
        const onSmall = chosen.slice(0, n).filter((key) => key === 'ssh:small').length;
        // At every step each machine holds its share of what was placed, within one sandbox.
        assert.ok(Math.abs(onSmall - (n * 2) / 8) <= 1, `after ${n}: ${onSmall} on the small machine (${chosen.join(', ')})`);
      }
      assert.equal(chosen.indexOf('ssh:small') < 6, true, `the small machine is used before the large one is full: ${chosen.join(', ')}`);
      assert.deepEqual(small.reserved, { cpus: 2, memory: 2 * GiB });
      assert.deepEqual(large.reserved, { cpus: 6, memory: 6 * GiB });
      assert.equal(choosePlacement([small, large], { cpus: 1, memory: GiB }), undefined, 'a ninth fits nowhere');
    });

    it('gives nothing to a full machine, and never goes beyond capacity', function () {
      const full = view(dockerTarget(), { cpus: 4, memory: 16 * GiB }, { reserved: { cpus: 4, memory: 4 * GiB } });
      const free = view(sshTarget('free'), { cpus: 1, memory: 2 * GiB });
      assert.equal(choosePlacement([full, free], { cpus: 1, memory: GiB })?.target.key, 'ssh:free');
      assert.equal(choosePlacement([full], { cpus: 1, memory: GiB }), undefined);
      assert.equal(choosePlacement([full, free], { cpus: 2, memory: GiB }), undefined, 'a demand larger than what is free anywhere');
      const half = view(dockerTarget(), { cpus: 2, memory: 8 * GiB }, { reserved: { cpus: 1.5, memory: 0 } });
      assert.equal(choosePlacement([half], { cpus: 0.5, memory: GiB })?.target.key, 'docker', 'an exact fit of fractions fits');
      assert.equal(choosePlacement([half], { cpus: 0.6, memory: GiB }), undefined);
    });

    it('respects memory: a machine with CPUs to spare but not the memory is passed over', function () {
      const cpuRich = view(sshTarget('cpu-rich'), { cpus: 32, memory: 4 * GiB }, { reserved: { cpus: 2, memory: 3 * GiB } });
      const memoryRich = view(sshTarget('memory-rich'), { cpus: 4, memory: 64 * GiB }, { reserved: { cpus: 2, memory: 0 } });
      assert.equal(choosePlacement([cpuRich, memoryRich], { cpus: 1, memory: 2 * GiB })?.target.key, 'ssh:memory-rich');
      assert.equal(choosePlacement([cpuRich, memoryRich], { cpus: 1, memory: GiB })?.target.key, 'ssh:cpu-rich', 'when it fits, the CPUs decide');
      assert.equal(choosePlacement([cpuRich], { cpus: 1, memory: 2 * GiB }), undefined);
    });

    it('skips unreachable machines, whatever they could hold', function () {
      const down = view(sshTarget('down'), { cpus: 64, memory: 256 * GiB }, { reachable: false, problem: 'Host down does not answer.' });
      const up = view(dockerTarget(), { cpus: 2, memory: 4 * GiB });
      assert.equal(choosePlacement([down, up], { cpus: 1, memory: GiB })?.target.key, 'docker');
      assert.equal(choosePlacement([down], { cpus: 1, memory: GiB }), undefined);
    });

    it('counts measured load against measured capacity, but takes a declared capacity at its word', function () {
      const busy = view(sshTarget('busy'), { cpus: 8, memory: 32 * GiB }, { load: { cpus: 7, memory: 4 * GiB } });
      const idle = view(sshTarget('idle'), { cpus: 4, memory: 32 * GiB }, { load: { cpus: 0.1, memory: GiB } });
      assert.equal(choosePlacement([busy, idle], { cpus: 1, memory: GiB })?.target.key, 'ssh:idle', 'a busy machine is less free than its size says');
      const declaredBusy = { ...busy, capacity: { ...busy.capacity, declared: true } };
      assert.equal(choosePlacement([declaredBusy, idle], { cpus: 1, memory: GiB })?.target.key, 'ssh:busy', 'the user said it may hold 8');
      // Load beyond capacity still never blocks a fit: only reservations do.
      const overloaded = view(sshTarget('overloaded'), { cpus: 2, memory: 8 * GiB }, { load: { cpus: 12, memory: 7 * GiB } });
      assert.equal(choosePlacement([overloaded], { cpus: 1, memory: GiB })?.target.key, 'ssh:overloaded');
    });

    it('breaks ties by free memory, then by key', function () {
      const a = view(sshTarget('a'), { cpus: 4, memory: 8 * GiB });
      const b = view(sshTarget('b'), { cpus: 4, memory: 16 * GiB });
      assert.equal(choosePlacement([a, b], { cpus: 1, memory: GiB })?.target.key, 'ssh:b');
      const c = view(sshTarget('c'), { cpus: 4, memory: 8 * GiB });
      assert.equal(choosePlacement([c, a], { cpus: 1, memory: GiB })?.target.key, 'ssh:a');
    });

    it('skips a machine whose capacity is unknown (zero)', function () {
      const unknown = view(sshTarget('unknown'), { cpus: 0, memory: 0 });
      assert.equal(choosePlacement([unknown], { cpus: 0, memory: 0 }), undefined);
    });
  });

  describe('reservedByTarget', function () {
    it('sums the profiles of running and creating sandboxes per machine', function () {
      const records = [
        record({ provider: 'docker', cpus: 2, memory: 2 * GiB }),
        record({ provider: 'docker', cpus: 1, memory: GiB, state: 'creating' }),
        record({ provider: 'docker', cpus: 8, memory: 8 * GiB, state: 'stopped' }),
        record({ provider: 'docker', cpus: 8, memory: 8 * GiB, state: 'error' }),
        record({ provider: 'docker', cpus: 8, memory: 8 * GiB, state: 'lost' }),
        record({ provider: 'ssh', placement: { host: 'box', kind: 'container' }, cpus: 0.5, memory: GiB }),
        record({ provider: 'ssh', placement: { host: 'box', kind: 'directory' }, cpus: 1, memory: GiB }),
        record({ provider: 'ssh', providerRef: 'other/directory/0123456789ab', cpus: 3, memory: GiB }),
      ];
      const reserved = reservedByTarget(records);
      assert.deepEqual(Object.fromEntries(reserved), {
        docker: { cpus: 3, memory: 3 * GiB },
        'ssh:box': { cpus: 1.5, memory: 2 * GiB },
        'ssh:other': { cpus: 3, memory: GiB },
      });
    });

    it('names the machine of a record; an ssh create not yet placed is only `ssh`', function () {
      assert.equal(targetKeyOf(record({ provider: 'docker' })), 'docker');
      assert.equal(targetKeyOf(record({ provider: 'ssh', placement: { host: 'box', kind: 'container' } })), 'ssh:box');
      assert.equal(targetKeyOf(record({ provider: 'ssh', providerRef: 'box/container/abc' })), 'ssh:box');
      assert.equal(targetKeyOf(record({ provider: 'ssh', state: 'creating' })), 'ssh');
      assert.equal(targetKeyOf(record({ provider: 'ssh', providerRef: 'not a ref' })), 'ssh');
    });

    it('ignores sizes that are not numbers in a damaged record', function () {
      const damaged = record({ provider: 'docker', cpus: Number.NaN, memory: -5 });
      assert.deepEqual(reservedByTarget([damaged]).get('docker'), { cpus: 0, memory: 0 });
    });
  });

  describe('parseMachineReport', function () {
    it('reads CPUs, load average and memory', function () {
      const report = parseMachineReport(
        ['cpus=8', 'loadavg=1.25 0.90 0.80 2/345 6789', 'MemTotal:       16318684 kB', 'MemAvailable:    8159342 kB', ''].join('\n'),
      );
      assert.deepEqual(report, { cpus: 8, memory: 16318684 * 1024, load: { cpus: 1.25, memory: (16318684 - 8159342) * 1024 } });
    });

    it('leaves out what is missing or not a plain number, as from a hostile machine', function () {
      assert.deepEqual(parseMachineReport(''), {});
      assert.deepEqual(parseMachineReport('cpus=lots\nloadavg=-1 0 0\nMemTotal: 1e30 kB\nMemAvailable: 5 kB'), {});
      assert.deepEqual(parseMachineReport('cpus=0\nMemTotal: 100 kB'), { memory: 100 * 1024 });
      assert.deepEqual(
        parseMachineReport('cpus=4\nloadavg=1.0 1 1\nMemTotal: 100 kB\nMemAvailable: 200 kB'),
        { cpus: 4, memory: 100 * 1024 },
        'more available than total',
      );
      assert.deepEqual(parseMachineReport(`${'x'.repeat(70 * 1024)}\ncpus=4`), {}, 'only the start of a flood is read');
    });

    it('asks the host for exactly those figures in one command', function () {
      assert.match(MEASURE_SCRIPT, /nproc/);
      assert.match(MEASURE_SCRIPT, /\/proc\/loadavg/);
      assert.match(MEASURE_SCRIPT, /\/proc\/meminfo/);
    });
  });
});
