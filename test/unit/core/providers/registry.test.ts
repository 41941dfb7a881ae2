import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { isSandboxError } from '../../../../src/core/errors';
import { DEFAULT_PROVIDER_KIND, PROVIDER_KINDS, ProviderSet, kindsOfferedInSettings, providerKindEntry } from '../../../../src/core/providers/registry';
import { FakeProvider } from '../fakeProvider';

const root = path.resolve(__dirname, '../../../../..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

describe('provider registry', () => {
  it('offers in the sandboxes.defaultProvider setting exactly the kinds VS Code may create, described as the registry says', () => {
    const setting = pkg.contributes.configuration.properties['sandboxes.defaultProvider'];
    assert.deepEqual(setting.enum, kindsOfferedInSettings());
    assert.deepEqual(
      setting.enumDescriptions,
      kindsOfferedInSettings().map((kind) => providerKindEntry(kind)!.description),
    );
    assert.ok(setting.enum.includes(setting.default), 'the default is one of the offered kinds');
    assert.equal(setting.default, DEFAULT_PROVIDER_KIND);
  });

  it('names each kind once', () => {
    const kinds = PROVIDER_KINDS.map((entry) => entry.kind);
    assert.deepEqual([...new Set(kinds)], kinds);
  });

  it('gives the providers it was handed, and says which kind is missing', () => {
    const fake = new FakeProvider();
    const set = new ProviderSet({ docker: fake }, '/nonexistent');
    assert.equal(set.get('docker'), fake);
    assert.deepEqual(set.entries(), [['docker', fake]]);
    assert.equal(set.find('ssh'), undefined);
    assert.throws(
      () => set.get('ssh'),
      (error) => isSandboxError(error, 'invalid-input') && /"ssh" is not set up here; use docker/.test(error.message),
    );
    assert.throws(
      () => set.docker,
      (error) => isSandboxError(error, 'invalid-input') && /not a Docker engine/.test(error.message),
    );
  });

  it('leaves a stand-in of the docker kind without engine checks', async () => {
    const set = new ProviderSet({ docker: new FakeProvider() }, '/nonexistent');
    const profile = { image: 'any:1', cpus: 1, memory: 1024 ** 3, pids: 100, sudo: false };
    assert.deepEqual(await set.prepareCreate('docker', { id: 'x', profile, requested: {} }), { profile, sandboxKeys: true });
    const entry = providerKindEntry('docker')!;
    assert.equal(entry.lacksFastChannel?.(new FakeProvider(), 'ref'), false);
  });
});
