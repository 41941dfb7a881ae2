import * as assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { everyInterval } from '../../../src/cli/commands/top';

describe('sandbox top: the refresh loop', function () {
  it('keeps one abort listener however many times it refreshes, and ends on abort', async function () {
    const controller = new AbortController();
    const listeners: number[] = [];
    let draws = 0;
    await everyInterval(controller.signal, 1, () => {
      draws += 1;
      listeners.push(getEventListeners(controller.signal, 'abort').length);
      if (draws === 30) controller.abort();
    });
    assert.equal(draws, 30);
    assert.ok(
      listeners.every((count) => count <= 1),
      `abort listeners per refresh: ${listeners.join(',')}`,
    );
  });
});
