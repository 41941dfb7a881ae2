import * as assert from 'node:assert/strict';
import type { SandboxRecord } from '../../../src/core/model';
import type { SizeOffer } from '../../../src/core/providers/digitalocean/catalog';
import { cloudDescriptionOf, cloudTooltipLines, gpuQuestion, regionPickItem, signInFailure, sizePickItem } from '../../../src/extension/cloudPresentation';
import { descriptionOf, tooltipLines } from '../../../src/extension/presentation';

const small: SizeOffer = {
  slug: 's-1vcpu-1gb',
  usdPerHour: 0.00893,
  usdPerMonth: 6,
  vcpus: 1,
  memoryMb: 1024,
  diskGb: 25,
  regions: ['nyc3', 'ams3'],
  description: 'Basic',
};

const h100: SizeOffer = {
  slug: 'gpu-h100x1-80gb',
  usdPerHour: 3.39,
  usdPerMonth: 2522.16,
  vcpus: 20,
  memoryMb: 245760,
  diskGb: 720,
  regions: ['nyc3'],
  description: 'H100 GPU - 1X',
  gpu: { count: 1, model: 'nvidia_h100', vramGb: 80 },
};

const started = Date.parse('2026-12-06T10:00:00.000Z');

const droplet: SandboxRecord = {
  id: 'd1e2f3a4b5c6',
  name: 'cloud-fix',
  agentId: 'default',
  provider: 'digitalocean',
  profile: { image: 'ubuntu-24-04', cpus: 1, memory: 1024 ** 3, pids: 4096, sudo: true },
  state: 'running',
  createdAt: '2026-12-06T10:00:00.000Z',
  updatedAt: '2026-12-06T10:00:00.000Z',
  startedAt: '2026-12-06T10:00:00.000Z',
  workdir: '/home/agent/workspace',
  user: 'agent',
  ports: {},
  providerRef: '3164444',
  cloud: { region: 'nyc3', size: 's-1vcpu-1gb', usdPerHour: 0.00893 },
};

describe('cloud presentation', () => {
  it('labels a region by its name with the slug the CLI takes beside it', () => {
    assert.deepEqual(regionPickItem({ slug: 'nyc3', name: 'New York 3', sizes: [] }), { label: 'New York 3', description: 'nyc3' });
  });

  it('labels a size with its CPUs, memory and hourly price, and no GPU mark', () => {
    const item = sizePickItem(small);
    assert.equal(item.label, 's-1vcpu-1gb: 1 vCPU, 1 GB, $0.00893/h (about $0.21 a day)');
    assert.equal(item.detail, 'Basic');
    assert.doesNotMatch(item.label, /GPU/);
  });

  it('marks a GPU size in its label, with its price, and says a yes is asked first', () => {
    const item = sizePickItem(h100);
    assert.match(item.label, /^\$\(warning\) GPU gpu-h100x1-80gb: 1 × nvidia_h100 \(80 GB\), \$3\.39\/h \(about \$81\.36 a day\)$/);
    assert.match(item.detail!, /confirm its price before anything is made/);
  });

  it('asks a modal question, with the price, for a GPU size only', () => {
    assert.equal(gpuQuestion(small), undefined);
    const question = gpuQuestion(h100)!;
    assert.match(question, /^gpu-h100x1-80gb: .*\$3\.39\/h \(about \$81\.36 a day\)\. This is a GPU size/);
    assert.match(question, /Create it\?$/);
  });

  it('describes a cloud sandbox by region, price per hour and uptime in the tree', () => {
    const now = started + 5 * 60_000;
    assert.equal(cloudDescriptionOf(droplet, now), 'nyc3 · $0.00893/h · up 5m');
    assert.equal(descriptionOf(droplet, now), 'nyc3 · $0.00893/h · up 5m');
    assert.equal(descriptionOf({ ...droplet, state: 'stopped' }, now), 'nyc3 · $0.00893/h · stopped');
    assert.equal(descriptionOf({ ...droplet, cloud: { ...droplet.cloud!, hibernatedAs: 'snap-1' }, state: 'stopped' }, now), 'nyc3 · hibernated');
    // Sandboxes of other providers keep their profile and uptime.
    const { cloud: _cloud, ...container } = droplet;
    assert.equal(cloudDescriptionOf({ ...container, provider: 'docker' }, now), undefined);
    assert.equal(descriptionOf({ ...container, provider: 'docker' }, now), '1 CPU · 1 GiB · up 5m');
  });

  it('puts the cost so far and the time-to-live in the tooltip, from the ledger entry', () => {
    const now = started + 30 * 60_000;
    const lines = cloudTooltipLines(droplet, { usdPerHour: 0.00893, openedMs: started, untilMs: started + 2 * 3_600_000 }, now);
    const text = lines.join('\n');
    assert.match(text, /- region: nyc3/);
    assert.match(text, /- size: `s-1vcpu-1gb`, \$0\.00893\/h/);
    // Half an hour at $0.00893/h, at least the $0.01 minimum.
    assert.match(text, /- cost so far: \$0\.01 \(30m at \$0\.00893\/h\)/);
    assert.match(text, /- time-to-live: 1h 30m left \(until .+\); then deleted when idle, hibernated when busy/);
    // The tooltip keeps the lines of every sandbox, the problem last.
    const whole = tooltipLines({ ...droplet, problem: 'Slow to answer.' }, lines);
    assert.ok(whole.indexOf(lines[0]!) > whole.findIndex((line) => line.startsWith('- created:')));
    assert.equal(whole.at(-1), '⚠ Slow to answer.');
  });

  it('prices a machine younger than a minute at the minimum, and says when its time-to-live has passed', () => {
    const text = cloudTooltipLines(droplet, { usdPerHour: 3.39, openedMs: started, untilMs: started + 60_000 }, started + 10_000).join('\n');
    // 60 s at $3.39/h: the minimum, though it lived 10 s.
    assert.match(text, /cost so far: \$0\.06 \(10s at \$3\.39\/h\)/);
    const late = cloudTooltipLines(droplet, { usdPerHour: 3.39, openedMs: started, untilMs: started + 60_000 }, started + 120_000).join('\n');
    assert.match(late, /time-to-live: passed at .+; the daemon deletes it when idle/);
  });

  it('says so when the ledger has no entry, and that a hibernated sandbox bills no machine', () => {
    assert.match(cloudTooltipLines(droplet, undefined).join('\n'), /cost so far: not in the cost ledger/);
    const hibernated = cloudTooltipLines({ ...droplet, cloud: { ...droplet.cloud!, hibernatedAs: 'snap-7' } }, undefined).join('\n');
    assert.match(hibernated, /hibernated as snapshot `snap-7`: no machine bills/);
    assert.doesNotMatch(hibernated, /cost so far/);
    assert.deepEqual(cloudTooltipLines({ ...droplet, cloud: undefined }, undefined), []);
  });

  it('explains a refused token in one sentence that says nothing was stored', () => {
    const refused = Object.assign(new Error('DigitalOcean refused the token; sign in again with `sandbox cloud login`.'), { failure: 'unauthorized' });
    assert.equal(
      signInFailure(refused),
      'DigitalOcean refused that token, so nothing was stored; copy it again from the control panel (API > Tokens) and sign in again.',
    );
    assert.match(signInFailure(new Error('DigitalOcean did not answer.')), /^Nothing was stored: DigitalOcean did not answer\.$/);
  });
});
