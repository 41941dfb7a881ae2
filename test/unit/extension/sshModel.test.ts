import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  MICROSOFT_REMOTE_SSH,
  OPEN_REMOTE_SSH,
  forwardLabel,
  parsePort,
  remoteFolderUri,
  remoteFolderUriParts,
  remoteSshFor,
  shellQuote,
  sshCommandLine,
} from '../../../src/extension/sshModel';

describe('SSH pieces of the extension', () => {
  it('builds the folder URI Remote-SSH opens', () => {
    assert.equal(remoteFolderUri('sandbox-fix-login', '/home/agent/workspace'), 'vscode-remote://ssh-remote+sandbox-fix-login/home/agent/workspace');
    assert.deepEqual(remoteFolderUriParts('sandbox-a', '/w'), { scheme: 'vscode-remote', authority: 'ssh-remote+sandbox-a', path: '/w' });
    assert.throws(() => remoteFolderUri('sandbox a', '/w'), /cannot be an SSH host alias/);
    assert.throws(() => remoteFolderUri('sandbox-a', 'workspace'), /not an absolute folder path/);
  });

  it("offers Microsoft's Remote-SSH in VS Code and the open-source one elsewhere", () => {
    assert.equal(remoteSshFor('Visual Studio Code', 'vscode'), MICROSOFT_REMOTE_SSH);
    assert.equal(remoteSshFor('Visual Studio Code - Insiders', 'vscode-insiders'), MICROSOFT_REMOTE_SSH);
    assert.equal(remoteSshFor('code-server', 'code-oss'), OPEN_REMOTE_SSH);
    assert.equal(remoteSshFor('code-server', 'vscode'), OPEN_REMOTE_SSH);
    assert.equal(remoteSshFor('VSCodium', 'vscodium'), OPEN_REMOTE_SSH);
    assert.equal(remoteSshFor('Code - OSS', 'code-oss'), OPEN_REMOTE_SSH);
  });

  it('quotes the config path of the SSH command only when a shell would split it', () => {
    assert.equal(sshCommandLine('/home/me/.agent-sandboxes/ssh/config', 'sandbox-a', 'linux'), 'ssh -F /home/me/.agent-sandboxes/ssh/config sandbox-a');
    assert.equal(
      sshCommandLine('/Users/Jo Doe/.agent-sandboxes/ssh/config', 'sandbox-a', 'darwin'),
      "ssh -F '/Users/Jo Doe/.agent-sandboxes/ssh/config' sandbox-a",
    );
    assert.equal(
      sshCommandLine('C:\\Users\\Jo Doe\\.agent-sandboxes\\ssh\\config', 'sandbox-a', 'win32'),
      'ssh -F "C:\\Users\\Jo Doe\\.agent-sandboxes\\ssh\\config" sandbox-a',
    );
    assert.equal(
      sshCommandLine('C:\\Users\\jo\\.agent-sandboxes\\ssh\\config', 'sandbox-a', 'win32'),
      'ssh -F C:\\Users\\jo\\.agent-sandboxes\\ssh\\config sandbox-a',
    );
  });

  it('quotes so that a POSIX shell reads back exactly the path', () => {
    for (const value of ["/tmp/it's here/config", '/tmp/$HOME/`x`/config', '/tmp/a\\b/config', '/tmp/*/config', '']) {
      const echoed = execFileSync('sh', ['-c', `printf %s ${shellQuote(value, 'linux')}`], { encoding: 'utf8' });
      assert.equal(echoed, value);
    }
  });

  it('takes a port from 1 to 65535 and says what is wrong with anything else', () => {
    assert.deepEqual(parsePort(' 3000 '), { port: 3000 });
    assert.deepEqual(parsePort('65535'), { port: 65535 });
    for (const bad of ['', '0', '65536', 'http', '30.5', '-1', '3000abc']) assert.ok('problem' in parsePort(bad), bad);
    assert.deepEqual(parsePort('70000'), { problem: '70000 is not a port; type a number from 1 to 65535.' });
  });

  it('labels a forwarded port with the port inside and the local address', () => {
    assert.equal(
      forwardLabel({ sandboxId: 'a', sandboxName: 'x', remotePort: 3000, localPort: 54321, url: 'http://127.0.0.1:54321/' }),
      '3000 → 127.0.0.1:54321',
    );
  });
});
