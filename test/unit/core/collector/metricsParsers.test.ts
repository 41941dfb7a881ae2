import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CpuRates, counter, parseDockerStats } from '../../../../src/core/collector/dockerStats';
import { PROBE_SCRIPT, inContainerCgroup, parseProbe, procNetDev, procStatCpuNanos, probeSections } from '../../../../src/core/collector/procStats';

/** A stats answer as Engine 20.10 gives it on cgroup v1 (trimmed). */
const V1_STATS = {
  read: '2026-12-06T09:31:21.698686661Z',
  pids_stats: { current: 6, limit: 1024 },
  cpu_stats: { cpu_usage: { total_usage: 1790322965, percpu_usage: [892632903, 897690062] }, system_cpu_usage: 22807540000000, online_cpus: 2 },
  precpu_stats: { cpu_usage: { total_usage: 0 } },
  memory_stats: { usage: 22241280, stats: { cache: 53248, total_inactive_file: 12288, inactive_file: 12288 }, limit: 2147483648 },
  networks: { eth0: { rx_bytes: 796, tx_bytes: 10 }, eth1: { rx_bytes: 4, tx_bytes: 5 } },
};

const PROC_NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0: 104857600 70000 0    0    0     0          0         0     2048      20    0    0    0     0       0          0
  eth1:     10      1    0    0    0     0          0         0       20       1    0    0    0     0       0          0`;

describe('collector metrics: reading what engines and machines say', function () {
  describe('the engine stats answer', function () {
    it('reads CPU, memory less inactive page cache, limit, processes and every interface', function () {
      assert.deepEqual(parseDockerStats(V1_STATS), {
        cpuNanos: 1790322965,
        memoryBytes: 22241280 - 12288,
        memoryLimitBytes: 2147483648,
        pids: 6,
        netRxBytes: 800,
        netTxBytes: 15,
      });
    });

    it('takes cgroup v2 inactive_file, and a container without networks has no network figures', function () {
      const v2 = {
        cpu_stats: { cpu_usage: { total_usage: 5 } },
        memory_stats: { usage: 1000, stats: { inactive_file: 200 }, limit: 4096 },
        pids_stats: { current: 1 },
      };
      assert.deepEqual(parseDockerStats(v2), { cpuNanos: 5, memoryBytes: 800, memoryLimitBytes: 4096, pids: 1 });
    });

    it('reads a stopped container (empty figures) as no reading', function () {
      assert.equal(
        parseDockerStats({ read: '0001-01-01T00:00:00Z', cpu_stats: { cpu_usage: { total_usage: 0 } }, memory_stats: {}, pids_stats: {} }),
        undefined,
      );
      assert.equal(parseDockerStats({}), undefined);
    });

    it('never throws on hostile or broken answers, and believes no impossible number', function () {
      for (const answer of [null, 'text', 42, [], { cpu_stats: 'x' }, { cpu_stats: { cpu_usage: { total_usage: -5 } } }, { networks: [1, 2] }]) {
        assert.doesNotThrow(() => parseDockerStats(answer));
      }
      const weird = parseDockerStats({
        cpu_stats: { cpu_usage: { total_usage: 'NaN' } },
        memory_stats: { usage: 100, stats: { inactive_file: 1e30 }, limit: Infinity },
        pids_stats: { current: -1 },
        networks: { eth0: { rx_bytes: '12', tx_bytes: { a: 1 } }, ['__proto__']: { rx_bytes: 5 } },
      });
      assert.deepEqual(weird, { memoryBytes: 100, netRxBytes: 17 });
      assert.equal(counter(2 ** 63), undefined);
      assert.equal(counter('123abc'), undefined);
      assert.equal(counter('77'), 77);
    });
  });

  describe('CPU rates from two counters', function () {
    it('is a share of one core over the wall time between readings', function () {
      const rates = new CpuRates();
      assert.equal(rates.percent('a', 1_000, 0), undefined, 'no rate from one reading');
      assert.equal(rates.percent('a', 3_000, 3e9), 150, '3 s of CPU in 2 s is one and a half cores');
      assert.equal(rates.percent('a', 4_000, 3.5e9), 50);
      assert.equal(rates.percent('a', 5_000, 1e9), 0, 'a counter that went back (a restart) counts again from there');
      assert.equal(rates.percent('a', 6_000, 1.25e9), 25);
      assert.equal(rates.percent('a', 6_000, 2e9), 0, 'no time passed');
      rates.keepOnly(new Set(['b']));
      assert.equal(rates.percent('a', 7_000, 3e9), undefined, 'a forgotten machine starts over');
    });
  });

  describe('the /proc probe answer', function () {
    it('reads /proc/stat busy time, /proc/net/dev without loopback, and splits sections', function () {
      assert.equal(procStatCpuNanos('cpu  100 5 50 1000 30 2 3 4 0 0', 100), ((100 + 5 + 50 + 2 + 3 + 4) * 1e9) / 100);
      assert.equal(procStatCpuNanos('cpu0 1 2 3 4', 100), undefined);
      assert.equal(procStatCpuNanos('cpu 1 2 x 4 5', 100), undefined);
      assert.deepEqual(procNetDev(PROC_NET_DEV.split('\n')), { rx: 104857610, tx: 2068 });
      assert.equal(procNetDev(['garbage', ':::', 'eth0: a b c']), undefined);
      const sections = probeSections('@clk\n100\n@net\n a \n\n@clk\n999\n@end\n');
      assert.deepEqual(sections.get('clk'), ['100'], 'a repeated section does not replace the first');
      assert.deepEqual(sections.get('net'), ['a']);
    });

    it('tells a container cgroup from a machine login', function () {
      assert.ok(inContainerCgroup(['0::/']));
      assert.ok(inContainerCgroup(['12:cpu,cpuacct:/docker/4ee38087b0f6', '1:name=systemd:/docker/4ee38087b0f6']));
      assert.ok(!inContainerCgroup(['0::/user.slice/user-1000.slice/session-3.scope']));
    });

    it('reads a droplet-like machine from /proc, and a container from its cgroup', function () {
      const machine = [
        '@clk',
        '100',
        '@stat',
        'cpu 200 0 100 5000 0 0 0 0 0 0',
        '@cgroup',
        '0::/user.slice/user-1000.slice/session-1.scope',
        '@meminfo',
        'MemTotal:        2000000 kB',
        'MemAvailable:    1500000 kB',
        '@net',
        ...PROC_NET_DEV.split('\n'),
        '@df',
        '/dev/vda1 25000000 4000000 21000000 17% /',
        '@fstype',
        'ext2/ext3',
        '@pids',
        '87',
        '@end',
      ].join('\n');
      assert.deepEqual(parseProbe(machine, 'machine'), {
        cpuNanos: 3e9,
        memoryBytes: 500000 * 1024,
        memoryLimitBytes: 2000000 * 1024,
        pids: 87,
        netRxBytes: 104857610,
        netTxBytes: 2068,
        diskBytes: 4000000 * 1024,
      });
      const container = [
        '@cgroup',
        '0::/',
        '@cpustat',
        'usage_usec 2500000',
        'user_usec 2000000',
        '@memcurrent',
        '300000000',
        '@memmax',
        'max',
        '@memstat',
        'inactive_file 100000000',
        '@pidscurrent',
        '7',
        '@meminfo',
        'MemTotal:        4000000 kB',
        '@df',
        'overlay 100 50 50 50% /',
        '@fstype',
        'overlayfs',
        '@end',
      ].join('\n');
      assert.deepEqual(parseProbe(container, 'machine'), { cpuNanos: 2.5e9, memoryBytes: 200000000, memoryLimitBytes: 4000000 * 1024, pids: 7 });
    });

    it('sums only the marked processes of a folder sandbox, not the probe and what it started', function () {
      const answer = [
        '@clk',
        '100',
        '@pagesize',
        '4096',
        '@self',
        '900',
        '@procs',
        '10|S 1 2 3 4 5 6 7 8 9 10 100 50 7 3 20 0 1 0|1000 250 10 1 0 100 0',
        '11|R 1 2 3 4 5 6 7 8 9 10 400 0 0 0 20 0 1 0|1000 100 10 1 0 100 0',
        '12|Z broken|nothing',
        '900|S 1 2 3 4 5 6 7 8 9 10 999 0 0 0 20 0 1 0|1000 100 10 1 0 100 0',
        '901|S 900 2 3 4 5 6 7 8 9 10 999 0 0 0 20 0 1 0|1000 100 10 1 0 100 0',
        '@end',
      ].join('\n');
      assert.deepEqual(parseProbe(answer, 'marked'), { cpuNanos: 5.6e9, memoryBytes: 350 * 4096, pids: 2 });
    });

    it('never throws, and stays bounded, whatever a machine prints', function () {
      const hostile = [
        '@net\n' + 'eth0: 9999999999999999999999 1 2 3 4 5 6 7 8\n'.repeat(20_000),
        '@stat\ncpu ' + '9'.repeat(400) + ' 1 1 1',
        '@meminfo\nMemTotal: -5 kB\nMemAvailable: 10 kB',
        '@procs\n' + '|'.repeat(10_000),
        '\u0000\u001b[2J@clk\n0',
        '@cgroup\n0::/\n@memcurrent\nlots\n@memmax\n-1',
      ];
      for (const answer of hostile) {
        for (const mode of ['machine', 'marked'] as const) {
          const reading = parseProbe(answer, mode);
          for (const value of Object.values(reading)) assert.ok(Number.isFinite(value) && value >= 0, `${JSON.stringify(reading)}`);
        }
      }
      const huge = 'x'.repeat(2_000_000);
      const started = Date.now();
      parseProbe(`@net\n${huge}\n@clk\n100`, 'machine');
      assert.ok(Date.now() - started < 1000);
    });

    it('the probe script runs under sh on this machine and its answer reads', async function () {
      const workdir = mkdtempSync(path.join(os.tmpdir(), 'probe-'));
      const marker = `probe-test-${process.pid}`;
      const sleeper = spawn('sleep', ['30'], { env: { ...process.env, AGENT_SANDBOX_ID: marker }, stdio: 'ignore' });
      try {
        writeFileSync(path.join(workdir, 'data'), Buffer.alloc(64 * 1024));
        const run = (mode: string, du: string) => promisify(execFile)('/bin/sh', ['-c', PROBE_SCRIPT, 'probe', mode, marker, workdir, du]);
        const machine = parseProbe((await run('machine', '1')).stdout, 'machine');
        assert.ok((machine.cpuNanos ?? 0) > 0, JSON.stringify(machine));
        assert.ok((machine.memoryBytes ?? 0) > 0 && (machine.pids ?? 0) > 1, JSON.stringify(machine));
        assert.ok((machine.diskBytes ?? 0) >= 64 * 1024, 'du of the workspace');
        const marked = parseProbe((await run('marked', '0')).stdout, 'marked');
        assert.equal(marked.pids, 1, `only the sleep carries the marker: ${JSON.stringify(marked)}`);
        assert.ok((marked.memoryBytes ?? 0) > 0);
      } finally {
        sleeper.kill();
        rmSync(workdir, { recursive: true, force: true });
      }
    });
  });
});
