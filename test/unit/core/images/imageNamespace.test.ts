import * as assert from 'node:assert/strict';
import { isSandboxError } from '../../../../src/core/errors';
import { DESKTOP_IMAGE_REPOSITORY, IMAGE_NAMESPACE_ENV, imageRepository, SANDBOX_IMAGE_REPOSITORY } from '../../../../src/core/images/recipe';

describe('the namespace of the images we build', function () {
  it('is agent-sandboxes unless the environment names another', function () {
    assert.equal(imageRepository('sandbox', {}), SANDBOX_IMAGE_REPOSITORY);
    assert.equal(imageRepository('desktop', { [IMAGE_NAMESPACE_ENV]: ' ' }), DESKTOP_IMAGE_REPOSITORY);
    assert.equal(imageRepository('sandbox', { [IMAGE_NAMESPACE_ENV]: 'trial-1' }), 'trial-1/sandbox');
    assert.equal(imageRepository('desktop', { [IMAGE_NAMESPACE_ENV]: 'me/trial.2' }), 'me/trial.2/desktop');
  });

  it('refuses a name no engine would take, saying what to write', function () {
    for (const namespace of ['Upper', 'a b', 'trial/', '-x', 'x:1']) {
      assert.throws(
        () => imageRepository('sandbox', { [IMAGE_NAMESPACE_ENV]: namespace }),
        (error: unknown) => isSandboxError(error, 'invalid-input') && /not an image repository name; use lowercase/.test((error as Error).message),
        namespace,
      );
    }
  });
});
