import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_SETTINGS,
  MONTHLY_BUDGET_KEY,
  SSH_SOURCE_KEY,
  checkMonthlyBudgetSetting,
  checkSshSourceSetting,
  readSettings,
} from '../../../src/extension/settingsModel';

const from = (values: Record<string, unknown>) => (key: string) => values[key];

describe('sandboxes.* settings', () => {
  it('default when nothing is set', () => {
    assert.deepEqual(readSettings(from({})), { settings: DEFAULT_SETTINGS, problems: [] });
  });

  it('read good values', () => {
    const { settings, problems } = readSettings(
      from({
        'defaultProfile.cpus': 0.5,
        'defaultProfile.memory': '512m',
        'defaultProfile.network': 'allow:PyPI.org',
        image: 'mine:1',
        stateDir: '/tmp/state',
        syncExcludes: ['*.log'],
      }),
    );
    assert.deepEqual(problems, []);
    assert.equal(settings.network, 'allow:pypi.org');
    assert.equal(settings.cpus, 0.5);
    assert.equal(settings.memory, 512 * 1024 ** 2);
    assert.equal(settings.image, 'mine:1');
    assert.equal(settings.stateDir, '/tmp/state');
    assert.deepEqual(settings.syncExcludes, ['*.log']);
  });

  it('name the setting in every problem and fall back to the default', () => {
    const { settings, problems } = readSettings(
      from({
        defaultProvider: 'gcp',
        'defaultProfile.cpus': -1,
        'defaultProfile.memory': 'lots',
        image: 'a b',
        stateDir: 'relative/dir',
        syncExcludes: [3],
        'defaultProfile.network': 'closed',
      }),
    );
    assert.deepEqual(settings, DEFAULT_SETTINGS);
    const names = ['defaultProvider', 'defaultProfile.cpus', 'defaultProfile.memory', 'image', 'stateDir', 'syncExcludes', 'defaultProfile.network'];
    assert.equal(problems.length, names.length);
    names.forEach((name, index) => assert.ok(problems[index]!.includes(`sandboxes.${name}`), problems[index]));
    assert.match(problems[2]!, /write it like "512m" or "2g"/);
  });
});

describe('sandboxes.cloud.monthlyBudgetUsd', () => {
  it('defaults to $50 and reads a number of dollars, zero included', () => {
    assert.equal(DEFAULT_SETTINGS.monthlyBudgetUsd, 50);
    assert.deepEqual(checkMonthlyBudgetSetting(undefined), { usd: 50 });
    assert.deepEqual(checkMonthlyBudgetSetting(0), { usd: 0 });
    const { settings, problems } = readSettings(from({ [MONTHLY_BUDGET_KEY]: 120.5 }));
    assert.deepEqual(problems, []);
    assert.equal(settings.monthlyBudgetUsd, 120.5);
  });

  it('refuses what is not a budget, naming the setting, and keeps the default', () => {
    for (const bad of [-1, '50', Number.NaN, 1e9, true]) {
      const checked = checkMonthlyBudgetSetting(bad);
      assert.equal(checked.usd, undefined, String(bad));
      assert.match(checked.problem!, /^The setting sandboxes\.cloud\.monthlyBudgetUsd is .+; give a number of US dollars from 0 to 100000, such as 50\.$/);
    }
    const { settings, problems } = readSettings(from({ [MONTHLY_BUDGET_KEY]: -5 }));
    assert.equal(settings.monthlyBudgetUsd, 50);
    assert.equal(problems.length, 1);
  });
});

describe('sandboxes.cloud.sshSourceCidr', () => {
  it('is contributed, defaults to anywhere, and reads address blocks', () => {
    const manifest = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', '..', 'package.json'), 'utf8')) as {
      contributes: { configuration: { properties: Record<string, { default?: unknown }> } };
    };
    assert.equal(manifest.contributes.configuration.properties[`sandboxes.${SSH_SOURCE_KEY}`]?.default, 'anywhere');
    assert.deepEqual(checkSshSourceSetting(undefined), { sources: ['0.0.0.0/0', '::/0'] });
    assert.deepEqual(checkSshSourceSetting('anywhere'), { sources: ['0.0.0.0/0', '::/0'] });
    assert.deepEqual(checkSshSourceSetting('203.0.113.0/24, 198.51.100.7'), { sources: ['203.0.113.0/24', '198.51.100.7/32'] });
  });

  it('refuses what is not an address block, naming the setting', () => {
    for (const bad of ['example.com', '1.2.3.4/40', 42, 'anywhere 1.2.3.4']) {
      const checked = checkSshSourceSetting(bad);
      assert.equal(checked.sources, undefined, String(bad));
      assert.match(checked.problem!, /^The setting sandboxes\.cloud\.sshSourceCidr is .+; give address blocks such as "203\.0\.113\.0\/24", or "anywhere"\.$/);
    }
  });
});
