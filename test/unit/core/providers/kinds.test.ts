import * as assert from 'node:assert/strict';
import { DEFAULT_PROVIDER_KIND, PROVIDER_KIND_INFO, kindsOfferedInSettings, providerKindInfos, providerKindLabel } from '../../../../src/core/providers/kinds';
import { PROVIDER_KINDS } from '../../../../src/core/providers/registry';
import { providerLabel } from '../../../../src/extension/presentation';
import { readSettings } from '../../../../src/extension/settingsModel';
import type { ProviderKind } from '../../../../src/core/model';

describe('provider kinds', () => {
  it('are the registry’s kinds, in its order, with its words', () => {
    assert.deepEqual(
      PROVIDER_KINDS.map(({ kind, label, description, offeredInSettings, local, cloud }) => ({ kind, label, description, offeredInSettings, local, cloud })),
      providerKindInfos(),
    );
    for (const [key, info] of Object.entries(PROVIDER_KIND_INFO)) assert.equal(info.kind, key);
  });

  it('name each kind in the extension as the registry does, and an unknown one by its name', () => {
    for (const info of providerKindInfos()) assert.equal(providerLabel(info.kind), info.label);
    assert.equal(providerKindLabel('gcp' as ProviderKind), 'gcp');
  });

  it('let the default-provider setting take exactly the kinds offered in settings', () => {
    for (const kind of kindsOfferedInSettings()) {
      const { settings, problems } = readSettings((key) => (key === 'defaultProvider' ? kind : undefined));
      assert.deepEqual(problems, []);
      assert.equal(settings.defaultProvider, kind);
    }
    for (const info of providerKindInfos().filter((candidate) => !candidate.offeredInSettings)) {
      const { settings, problems } = readSettings((key) => (key === 'defaultProvider' ? info.kind : undefined));
      assert.equal(settings.defaultProvider, DEFAULT_PROVIDER_KIND);
      assert.equal(problems.length, 1);
      assert.match(
        problems[0]!,
        new RegExp(
          `"${info.kind}", which is not available here; use ${kindsOfferedInSettings()
            .map((kind) => `"${kind}"`)
            .join(' or ')}\\.`,
        ),
      );
    }
  });
});
