import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, promises as fs, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isSandboxError } from '../../../../src/core/errors';
import {
  INCLUDE_BEGIN,
  INCLUDE_END,
  addSshInclude,
  defaultUserSshConfig,
  includeDirective,
  readSshInclude,
  removeSshInclude,
} from '../../../../src/core/ssh/userConfig';

describe('the user SSH config Include', function () {
  const root = () => mkdtempSync(path.join(os.tmpdir(), 'ssh-user-config-test-'));
  const block = (included: string, eol = '\n') => [INCLUDE_BEGIN, `Include "${included}"`, INCLUDE_END, '', ''].join(eol);
  const isRoot = process.getuid?.() === 0;

  it('is ~/.ssh/config by default', function () {
    assert.equal(defaultUserSshConfig(), path.join(os.homedir(), '.ssh', 'config'));
  });

  it('creates a missing config 0600, and a missing ~/.ssh 0700, holding just the block', async function () {
    const home = root();
    const config = path.join(home, '.ssh', 'config');
    const included = path.join(home, 'state', 'ssh_config');
    assert.deepEqual(await addSshInclude(config, included), { changed: true });
    assert.equal(await fs.readFile(config, 'utf8'), block(included));
    assert.equal(statSync(config).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(config)).mode & 0o777, 0o700);
    assert.equal(await readSshInclude(config), included);
    assert.deepEqual(await fs.readdir(path.dirname(config)), ['config'], 'no temp file left');
  });

  it('puts the block first and, once removed, leaves every byte of the file as it was', async function () {
    const fixtures: Record<string, Buffer> = {
      'empty file': Buffer.alloc(0),
      'no trailing newline': Buffer.from('Host a\n  HostName 10.0.0.1'),
      'CRLF line endings': Buffer.from('Host a\r\n  HostName 10.0.0.1\r\n\r\nHost b\r\n  User x\r\n'),
      'an Include of the user': Buffer.from('Include ~/.ssh/work/*\n\nHost *\n  ServerAliveInterval 30\n'),
      'Host and Match blocks': Buffer.from('Host a\n  User u\nMatch host b exec "true"\n  Port 2222\n'),
      'a UTF-8 BOM': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Host a\n  User ü\n')]),
      'tabs and odd whitespace': Buffer.from('  \t# mine \t\n\n\n\tHost\ta   \n\t\tUser   u \t\n   \n'),
      'a leading empty line': Buffer.from('\nHost a\n'),
      'bytes that are not UTF-8': Buffer.from([0x48, 0x6f, 0x73, 0x74, 0x20, 0xff, 0xfe, 0x80, 0x0a]),
      'a lone CR at the end': Buffer.from('Host a\r'),
    };
    const dir = root();
    const included = path.join(dir, 'sandboxes ssh', 'config');
    for (const [name, original] of Object.entries(fixtures)) {
      const config = path.join(dir, name);
      await fs.writeFile(config, original);
      assert.deepEqual(await addSshInclude(config, included), { changed: true }, name);
      const bom = original.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])) ? original.subarray(0, 3) : Buffer.alloc(0);
      const eol = name === 'CRLF line endings' ? '\r\n' : '\n';
      const expected = Buffer.concat([bom, Buffer.from(block(included, eol)), original.subarray(bom.length)]);
      assert.deepEqual(await fs.readFile(config), expected, name);
      assert.equal(await readSshInclude(config), included, name);
      assert.deepEqual(await removeSshInclude(config), { changed: true }, name);
      assert.deepEqual(await fs.readFile(config), original, name);
      assert.equal(await readSshInclude(config), undefined, name);
    }
  });

  it('writes a path OpenSSH reads, spaces and non-ASCII letters included', async function () {
    const dir = root();
    const included = path.join(dir, 'my sandboxes é', 'ssh_config');
    await fs.mkdir(path.dirname(included));
    await fs.writeFile(included, 'Host sbx-test\n  HostName 10.9.8.7\n');
    const config = path.join(dir, 'config');
    await fs.writeFile(config, 'Host other\n  HostName 10.0.0.1\n');
    await addSshInclude(config, included);
    assert.equal(await readSshInclude(config), included);
    const output = execFileSync('ssh', ['-G', '-F', config, 'sbx-test'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(output, /^hostname 10\.9\.8\.7$/m);
  });

  it('writes Windows paths absolute, quoted and with forward slashes', function () {
    assert.equal(includeDirective('C:\\Users\\A B\\.agent-sandboxes\\ssh_config', 'win32'), 'Include "C:/Users/A B/.agent-sandboxes/ssh_config"');
    assert.equal(includeDirective('/home/a b/x', 'linux'), 'Include "/home/a b/x"');
  });

  it('adds one block only: a second add changes nothing and does not rewrite the file', async function () {
    const config = path.join(root(), 'config');
    await fs.writeFile(config, 'Host a\n');
    assert.deepEqual(await addSshInclude(config, '/x/inc'), { changed: true });
    const before = statSync(config);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(await addSshInclude(config, '/x/inc'), { changed: false });
    const after = statSync(config);
    assert.equal(after.mtimeMs, before.mtimeMs);
    assert.equal(after.ino, before.ino);
    assert.equal(await fs.readFile(config, 'utf8'), block('/x/inc') + 'Host a\n');
  });

  it('updates the block in place when the included file changes', async function () {
    const config = path.join(root(), 'config');
    await fs.writeFile(config, `# my header\n${block('/old/inc')}Host a\n`);
    assert.deepEqual(await addSshInclude(config, '/new/inc'), { changed: true });
    assert.equal(await fs.readFile(config, 'utf8'), `# my header\n${block('/new/inc')}Host a\n`);
    assert.equal(await readSshInclude(config), '/new/inc');
    await removeSshInclude(config);
    assert.equal(await fs.readFile(config, 'utf8'), '# my header\nHost a\n');
  });

  it('moves the block back to the top when it ended up below a Host or Match line', async function () {
    const config = path.join(root(), 'config');
    await fs.writeFile(config, `Host a\n  User u\n${block('/x/inc')}Match all\n`);
    assert.deepEqual(await addSshInclude(config, '/x/inc'), { changed: true });
    assert.equal(await fs.readFile(config, 'utf8'), `${block('/x/inc')}Host a\n  User u\nMatch all\n`);
  });

  it('removes nothing when there is no block: the file is not even rewritten', async function () {
    const dir = root();
    const config = path.join(dir, 'config');
    await fs.writeFile(config, 'Host a\n');
    const before = statSync(config);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(await removeSshInclude(config), { changed: false });
    assert.equal(statSync(config).mtimeMs, before.mtimeMs);
    assert.equal(statSync(config).ino, before.ino);

    const missing = path.join(dir, 'nothing', 'config');
    assert.deepEqual(await removeSshInclude(missing), { changed: false });
    assert.equal(await readSshInclude(missing), undefined);
    await assert.rejects(fs.stat(path.dirname(missing)), /ENOENT/, 'remove creates nothing');
  });

  it('leaves an empty file, not no file, when our block was all it held', async function () {
    const config = path.join(root(), '.ssh', 'config');
    await addSshInclude(config, '/x/inc');
    assert.deepEqual(await removeSshInclude(config), { changed: true });
    assert.equal(await fs.readFile(config, 'utf8'), '');
    assert.equal(statSync(config).mode & 0o777, 0o600);
  });

  it('keeps the mode of an existing file, and its owner when running as root', async function () {
    const config = path.join(root(), 'config');
    await fs.writeFile(config, 'Host a\n');
    await fs.chmod(config, 0o640);
    if (isRoot) await fs.chown(config, 4321, 4322);
    await addSshInclude(config, '/x/inc');
    assert.equal(statSync(config).mode & 0o7777, 0o640);
    await removeSshInclude(config);
    assert.equal(statSync(config).mode & 0o7777, 0o640);
    if (isRoot) {
      assert.equal(statSync(config).uid, 4321);
      assert.equal(statSync(config).gid, 4322);
    }
  });

  it('edits the file a symlink points to, so the link stays a link', async function () {
    const dir = root();
    const target = path.join(dir, 'dotfiles', 'ssh_config');
    await fs.mkdir(path.dirname(target));
    await fs.writeFile(target, 'Host a\n');
    const link = path.join(dir, 'config');
    await fs.symlink(path.relative(dir, target), link);
    await addSshInclude(link, '/x/inc');
    assert.ok((await fs.lstat(link)).isSymbolicLink());
    assert.equal(await fs.readFile(target, 'utf8'), block('/x/inc') + 'Host a\n');
    await removeSshInclude(link);
    assert.ok((await fs.lstat(link)).isSymbolicLink());
    assert.equal(await fs.readFile(target, 'utf8'), 'Host a\n');
    assert.deepEqual(await fs.readdir(dir), ['config', 'dotfiles'], 'no temp file next to the link');

    const dangling = path.join(dir, 'dangling');
    await fs.symlink('created-through-link', dangling);
    await addSshInclude(dangling, '/x/inc');
    assert.ok((await fs.lstat(dangling)).isSymbolicLink());
    assert.equal(await fs.readFile(path.join(dir, 'created-through-link'), 'utf8'), block('/x/inc'));
  });

  it('refuses a lone, repeated or reversed marker rather than guess, and leaves the file alone', async function () {
    const cases: Record<string, string> = {
      'begin only': `${INCLUDE_BEGIN}\nInclude "/x"\nHost a\n`,
      'end only': `Host a\n${INCLUDE_END}\n`,
      reversed: `${INCLUDE_END}\nInclude "/x"\n${INCLUDE_BEGIN}\n`,
      'two blocks': block('/x') + block('/y'),
    };
    const dir = root();
    for (const [name, text] of Object.entries(cases)) {
      const config = path.join(dir, name);
      await fs.writeFile(config, text);
      const refused = (error: unknown) =>
        isSandboxError(error, 'invalid-input') && error.message.includes(config) && /by hand and try again\.$/.test(error.message);
      await assert.rejects(addSshInclude(config, '/z'), refused, name);
      await assert.rejects(removeSshInclude(config), refused, name);
      await assert.rejects(readSshInclude(config), refused, name);
      assert.equal(await fs.readFile(config, 'utf8'), text, name);
    }
  });

  it('refuses include paths OpenSSH would not read literally, and the config itself', async function () {
    const config = path.join(root(), 'config');
    for (const bad of ['/a"b', '/a/*.conf', '/a/%h', '/a/${HOME}', '/a\nb', '']) {
      await assert.rejects(addSshInclude(config, bad), (error: unknown) => isSandboxError(error, 'invalid-input'), JSON.stringify(bad));
    }
    await assert.rejects(addSshInclude(config, config), (error: unknown) => isSandboxError(error, 'invalid-input'));
    await assert.rejects(fs.stat(config), /ENOENT/);
  });

  it('fails with one clear sentence when the file cannot be written, leaving nothing behind', async function () {
    const dir = root();
    const expectFailure = (config: string, reason: string) => (error: unknown) => {
      assert.ok(isSandboxError(error, 'provider-error'), String(error));
      assert.match(error.message, new RegExp(`^Could not update ${config} \\(${reason}\\); .* or set remote\\.SSH\\.configFile to another file\\.$`));
      return true;
    };

    // Works as root too: the config's parent is a regular file.
    const parentIsFile = path.join(dir, 'file');
    await fs.writeFile(parentIsFile, 'not a folder');
    await assert.rejects(
      addSshInclude(path.join(parentIsFile, 'config'), '/x/inc'),
      expectFailure(path.join(parentIsFile, 'config'), 'a folder in its path is a file'),
    );
    await assert.rejects(
      addSshInclude(path.join(parentIsFile, 'sub', 'config'), '/x/inc'),
      expectFailure(path.join(parentIsFile, 'sub', 'config'), 'a folder in its path is a file'),
    );
    // And the config path itself a directory.
    const isDirectory = path.join(dir, 'config');
    await fs.mkdir(isDirectory);
    await assert.rejects(addSshInclude(isDirectory, '/x/inc'), expectFailure(isDirectory, 'it is a directory'));
    assert.deepEqual((await fs.readdir(dir)).sort(), ['config', 'file'], 'no temp file left');
    assert.deepEqual(await fs.readdir(isDirectory), []);
    assert.equal(await fs.readFile(parentIsFile, 'utf8'), 'not a folder');
  });

  it('says "permission denied" for a folder it may not write', async function () {
    // Root writes through any mode, so the edit runs as nobody when the tests run as root.
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'ssh-user-config-perm-'));
    await fs.chmod(base, 0o755);
    const dir = path.join(base, 'ssh');
    await fs.mkdir(dir, { mode: 0o755 });
    const config = path.join(dir, 'config');
    await fs.writeFile(config, 'Host a\n', { mode: 0o644 });
    await fs.chmod(dir, 0o555);
    const modulePath = path.resolve(__dirname, '..', '..', '..', '..', 'src', 'core', 'ssh', 'userConfig.js');
    const script = `require(${JSON.stringify(modulePath)}).addSshInclude(${JSON.stringify(config)}, '/x/inc').then(() => console.log('no error'), (e) => console.log(e.code + '|' + e.message))`;
    const command = isRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath] : [process.execPath];
    try {
      const output = execFileSync(command[0]!, [...command.slice(1), '-e', script], { encoding: 'utf8' });
      assert.equal(
        output.trim(),
        `provider-error|Could not update ${config} (permission denied); make it writable or set remote.SSH.configFile to another file.`,
      );
      assert.deepEqual(await fs.readdir(dir), ['config']);
      assert.equal(await fs.readFile(config, 'utf8'), 'Host a\n');
    } finally {
      await fs.chmod(dir, 0o755);
      await fs.rm(base, { recursive: true, force: true });
    }
  });

  it('stays whole when several adds run at once', async function () {
    const dir = root();
    const config = path.join(dir, 'config');
    const original = 'Host a\n  User u\n';
    await fs.writeFile(config, original);
    const paths = ['/x/one', '/x/two'];
    await Promise.all(Array.from({ length: 12 }, (_, i) => addSshInclude(config, paths[i % 2]!)));
    const text = await fs.readFile(config, 'utf8');
    assert.ok(
      paths.some((p) => text === block(p) + original),
      text,
    );
    assert.deepEqual(await fs.readdir(dir), ['config'], 'no temp file left');
    await removeSshInclude(config);
    assert.equal(await fs.readFile(config, 'utf8'), original);
  });
});
