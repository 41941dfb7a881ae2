import * as assert from 'node:assert/strict';
import { parseSince } from '../../../src/app/since';

describe('--since', () => {
  const now = Date.UTC(2027, 0, 15, 12, 0, 0);

  it('takes an age back from now', () => {
    assert.equal(parseSince('30s', now), now - 30_000);
    assert.equal(parseSince('10m', now), now - 600_000);
    assert.equal(parseSince('2h', now), now - 7_200_000);
    assert.equal(parseSince('1d', now), now - 86_400_000);
    assert.equal(parseSince('1.5h', now), now - 5_400_000);
    assert.equal(parseSince('1w', now), now - 7 * 86_400_000);
  });

  it('takes an ISO time', () => {
    assert.equal(parseSince('2027-01-15T09:30:00Z', now), Date.UTC(2027, 0, 15, 9, 30));
    assert.equal(parseSince('2027-01-14', now), Date.UTC(2027, 0, 14));
  });

  it('refuses anything else in one sentence that shows the forms', () => {
    for (const text of ['', 'yesterday', '10', '-5m', '10 minutes', '2027-13-45']) {
      assert.throws(() => parseSince(text, now), /neither an age like 10m, 2h or 1d nor an ISO time/, text);
    }
  });
});
