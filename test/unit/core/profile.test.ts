import * as assert from 'node:assert/strict';
import { isSandboxError } from '../../../src/core/errors';
import { DEFAULT_PROFILE_LIMITS, parseSize, validateName, validateProfile } from '../../../src/core/profile';

describe('profiles', function () {
  const capacity = { cpus: 2, memory: 8 * 1024 ** 3 };
  const profile = { image: 'img', ...DEFAULT_PROFILE_LIMITS };

  it('parses sizes the way people write them', function () {
    assert.equal(parseSize('512m', 'memory'), 512 * 1024 ** 2);
    assert.equal(parseSize('2g', 'memory'), 2 * 1024 ** 3);
    assert.equal(parseSize('2GiB', 'memory'), 2 * 1024 ** 3);
    assert.equal(parseSize('1.5G', 'memory'), 1.5 * 1024 ** 3);
    assert.equal(parseSize('4096', 'memory'), 4096);
    assert.throws(() => parseSize('lots', 'memory limit'), /The memory limit "lots" is not a size/);
  });

  it('refuses what the machine cannot give, naming the field', function () {
    assert.doesNotThrow(() => validateProfile(profile, capacity));
    assert.throws(() => validateProfile({ ...profile, memory: 1024 ** 4 }, capacity), /memory limit 1024 GiB is more than/);
    assert.throws(() => validateProfile({ ...profile, memory: 1024 ** 2 }, capacity), /below the minimum/);
    assert.throws(() => validateProfile({ ...profile, cpus: 3 }, capacity), /asks for 3 CPUs but the engine has 2/);
    assert.throws(
      () => validateProfile({ ...profile, cpus: 0 }, capacity),
      (e: unknown) => isSandboxError(e, 'invalid-input'),
    );
    assert.throws(() => validateProfile({ ...profile, pids: 3 }, capacity), /process limit 3 is too low/);
  });

  it('accepts simple names and refuses the rest', function () {
    for (const good of ['a', 'fix-login-2', 'x'.repeat(40)]) assert.doesNotThrow(() => validateName(good));
    for (const bad of ['', 'Upper', '-lead', 'trail-', 'has space', 'under_score', 'x'.repeat(41), '../etc']) {
      assert.throws(
        () => validateName(bad),
        (e: unknown) => isSandboxError(e, 'invalid-input'),
        bad,
      );
    }
  });
});
