import * as assert from 'node:assert/strict';
import { parseEvent } from '../../../src/core/providers/dockerEvents';
import { LABELS } from '../../../src/core/labels';

describe('Docker engine events', () => {
  it('parse a container event with our labels', () => {
    const line = JSON.stringify({
      Type: 'container',
      Action: 'die',
      Actor: { ID: 'c0ffee', Attributes: { [LABELS.id]: 'abc123' } },
      time: 1,
      timeNano: 1_700_000_000_123_000_000,
    });
    assert.deepEqual(parseEvent(line), { containerId: 'c0ffee', action: 'die', time: 1_700_000_000_123, sandboxId: 'abc123' });
  });

  it('skip other kinds of events and broken lines', () => {
    assert.equal(parseEvent(JSON.stringify({ Type: 'network', Action: 'connect', Actor: { ID: 'n1' } })), undefined);
    assert.equal(parseEvent('{"Type":'), undefined);
    assert.equal(parseEvent(JSON.stringify({ Type: 'container' })), undefined);
  });
});
