import * as assert from 'node:assert/strict';
import { parseDuration, parseEnvPairs } from '../../../src/app/parse';
import { splitAtDoubleDash } from '../../../src/cli/args';

describe('CLI arguments', function () {
  it('parses durations', function () {
    assert.equal(parseDuration('30', 'timeout'), 30_000);
    assert.equal(parseDuration('250ms', 'timeout'), 250);
    assert.equal(parseDuration('1.5s', 'timeout'), 1500);
    assert.equal(parseDuration('5m', 'timeout'), 300_000);
    assert.throws(() => parseDuration('soon', 'timeout'), /The timeout "soon" is not a duration/);
  });

  it('parses NAME=VALUE pairs, values may hold =', function () {
    assert.deepEqual(parseEnvPairs(['A=1', 'B=x=y', 'C=']), { A: '1', B: 'x=y', C: '' });
    assert.throws(() => parseEnvPairs(['=v']), /NAME=VALUE/);
  });

  it('splits at the first --', function () {
    assert.deepEqual(splitAtDoubleDash(['x', '--cwd', 'd', '--', 'ls', '--', '-l']), { before: ['x', '--cwd', 'd'], after: ['ls', '--', '-l'] });
    assert.deepEqual(splitAtDoubleDash(['x']), { before: ['x'], after: undefined });
  });
});
