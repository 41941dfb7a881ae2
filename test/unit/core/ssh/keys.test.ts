import * as assert from 'node:assert/strict';
import { generateEd25519, publicKeyOf } from '../../../../src/core/ssh/keys';

describe('SSH keys made here', function () {
  it('are well-formed every time (a leading zero byte of the public key included)', function () {
    for (let i = 0; i < 1500; i++) {
      const pair = generateEd25519('c');
      assert.equal(publicKeyOf(pair.privateKey, 'c'), pair.publicKey);
      assert.equal(Buffer.from(pair.publicKey.split(' ')[1]!, 'base64').length, 51, 'type string + 32-byte key');
    }
  });
});
