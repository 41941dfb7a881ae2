import * as assert from 'node:assert/strict';
import type { SandboxRecord } from '../../../src/core/model';
import { formatDuration } from '../../../src/app/format';
import { contextValueOf, deleteWarning, descriptionOf, iconOf, screenshotFileName, statusBarText, tooltipLines } from '../../../src/extension/presentation';

const base: SandboxRecord = {
  id: 'a1b2c3d4e5f6',
  name: 'fix-login',
  agentId: 'claude',
  provider: 'docker',
  profile: { image: 'agent-sandboxes/sandbox:abc', cpus: 2, memory: 2 * 1024 ** 3, pids: 1024, sudo: true },
  state: 'running',
  createdAt: '2026-11-25T10:00:00.000Z',
  updatedAt: '2026-11-25T10:00:00.000Z',
  startedAt: '2026-11-25T10:00:00.000Z',
  workdir: '/home/agent/workspace',
  user: 'agent',
  ports: { '22/tcp': 49153 },
};

describe('sandbox presentation', () => {
  it('builds contextValue from tags', () => {
    assert.equal(contextValueOf(base), 'sandbox+docker+running+terminal');
    assert.equal(contextValueOf({ ...base, state: 'stopped' }), 'sandbox+docker+stopped');
    const desktop = { ...base, profile: { ...base.profile, desktop: '1280x800' } };
    assert.equal(contextValueOf(desktop), 'sandbox+docker+running+terminal+desktop');
    assert.equal(contextValueOf({ ...desktop, state: 'stopped' }), 'sandbox+docker+stopped+desktop');
  });

  it('gives every state its own icon', () => {
    const states = ['creating', 'running', 'stopped', 'error', 'lost'] as const;
    assert.equal(new Set(states.map((state) => iconOf(state).id)).size, states.length);
    assert.equal(iconOf('creating').id, 'loading~spin');
  });

  it('describes profile and uptime', () => {
    const now = Date.parse(base.startedAt!) + (3 * 60 + 12) * 60_000;
    assert.equal(descriptionOf(base, now), '2 CPU · 2 GiB · up 3h 12m');
    assert.equal(descriptionOf({ ...base, state: 'stopped' }, now), '2 CPU · 2 GiB · stopped');
  });

  it('formats durations compactly', () => {
    assert.equal(formatDuration(-5), '0s');
    assert.equal(formatDuration(59_999), '59s');
    assert.equal(formatDuration(5 * 60_000), '5m');
    assert.equal(formatDuration(50 * 3600_000), '2d 2h');
  });

  it('puts id, agent, image, ports and creation time in the tooltip, and the problem when there is one', () => {
    const text = tooltipLines({ ...base, state: 'lost', problem: 'The machine is gone.' }).join('\n');
    for (const part of ['a1b2c3d4e5f6', 'claude', 'agent-sandboxes/sandbox:abc', '22/tcp → 127.0.0.1:49153', 'created:', 'The machine is gone.']) {
      assert.ok(text.includes(part), part);
    }
  });

  it('counts running sandboxes for the status bar', () => {
    assert.equal(statusBarText([]).text, '$(vm) 0');
    assert.match(statusBarText([]).tooltip, /No sandboxes/);
    const two = statusBarText([base, { ...base, id: 'x', state: 'stopped' }]);
    assert.equal(two.text, '$(vm) 1');
    assert.match(two.tooltip, /1 of 2 sandboxes running/);
  });

  it('says what a delete throws away', () => {
    assert.match(deleteWarning([base]), /^Delete the sandbox fix-login\? Every file inside.*It is running and will be stopped\.$/);
    const many = deleteWarning([base, { ...base, name: 'other', state: 'stopped' }]);
    assert.match(many, /2 sandboxes \(fix-login, other\)/);
    assert.match(many, /their exec and sync history/);
  });

  it('names a screenshot after the sandbox and the local time', () => {
    assert.equal(screenshotFileName('fix-login', new Date(2026, 10, 5, 9, 3, 7)), 'fix-login-20261105-090307.png');
  });
});
