import * as assert from 'node:assert/strict';
import { BackgroundWork } from '../../../../src/core/tasks/background';

const later = <T>(ms: number, value: T, fail = false): Promise<T> =>
  new Promise((resolve, reject) => setTimeout(() => (fail ? reject(new Error(String(value))) : resolve(value)), ms));

describe('background work', () => {
  it('settles only after everything tracked has, including work started while it waited', async () => {
    const background = new BackgroundWork();
    const finished: string[] = [];
    void background.track(later(20, 'first')).then((value) => {
      finished.push(value);
      void background.track(later(30, 'second')).then((next) => finished.push(next));
    });
    await background.settled();
    assert.deepEqual(finished, ['first', 'second']);
  });

  it('counts a failure as settled and hands it to the caller unchanged', async () => {
    const background = new BackgroundWork();
    const tracked = background.track(later(10, 'broken', true));
    await assert.rejects(tracked, /broken/);
    await background.settled();
  });

  it('settles at once with nothing tracked', async () => {
    assert.equal(await new BackgroundWork().settled(), true);
  });

  it('gives up after its limit when work hangs, and says so', async () => {
    const background = new BackgroundWork();
    void background.track(new Promise(() => undefined));
    const started = Date.now();
    assert.equal(await background.settled(50), false);
    assert.ok(Date.now() - started < 1000);
  });
});
