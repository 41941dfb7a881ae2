import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { SyncSummary } from '../../src/core/controller';
import { isSandboxError } from '../../src/core/errors';
import type { SandboxRecord } from '../../src/core/model';
import { CLI, TestEnvironment, ensureImage, tempDir, uniqueName } from './helpers';

/** Every path under root with its type, mode, and content or link target. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  async function walk(dir: string): Promise<void> {
    for (const name of (await fs.readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const relative = path.relative(root, full);
      const info = await fs.lstat(full);
      const mode = (info.mode & 0o7777).toString(8);
      if (info.isSymbolicLink()) result[relative] = `link ${await fs.readlink(full)}`;
      else if (info.isDirectory()) {
        result[relative] = `dir ${mode}`;
        await walk(full);
      } else result[relative] = `file ${mode} ${(await fs.readFile(full)).toString('base64')}`;
    }
  }
  await walk(root);
  return result;
}

describe('sync with a Docker sandbox', function () {
  const env = new TestEnvironment();
  let sandbox: SandboxRecord;

  before(async function () {
    await ensureImage();
    sandbox = await env.controller.create({ name: uniqueName('sync') });
  });
  after(() => env.dispose());

  it('round-trips content, modes, symlinks inside the tree and empty folders', async function () {
    const local = tempDir();
    await fs.mkdir(path.join(local, 'src', 'empty'), { recursive: true });
    await fs.writeFile(path.join(local, 'src', 'main.py'), 'print("hi")\n');
    await fs.writeFile(path.join(local, 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
    await fs.writeFile(path.join(local, 'private.txt'), 'mine\n', { mode: 0o600 });
    await fs.symlink('src/main.py', path.join(local, 'entry.py'));
    await fs.writeFile(path.join(local, 'binary.bin'), Buffer.from(Array.from({ length: 70000 }, (_, i) => i % 256)));

    await env.controller.push(sandbox.id, { localRoot: local, remoteDir: 'round' });
    const ran = await env.controller.exec(sandbox.id, { command: './run.sh && python3 entry.py && stat -c %U round 2>/dev/null; stat -c %U .', cwd: 'round' });
    assert.equal(ran.stdout, 'run\nhi\nagent\n');

    const back = path.join(tempDir(), 'back');
    await env.controller.pull(sandbox.id, { remoteDir: 'round', localRoot: back });
    assert.deepEqual(await snapshot(back), await snapshot(local));
  });

  it('sends only what changed on an incremental push, and deletes only when asked', async function () {
    const local = tempDir();
    for (let i = 0; i < 200; i++) await fs.writeFile(path.join(local, `file-${i}.txt`), `content ${i}\n`);
    const first = await env.controller.push(sandbox.id, { localRoot: local, remoteDir: 'incremental' });
    assert.equal(first.files, 200);

    const changed = [3, 17, 42, 99, 150];
    let changedBytes = 0;
    for (const i of changed) {
      const content = `changed content ${i}\n`;
      changedBytes += content.length;
      await fs.writeFile(path.join(local, `file-${i}.txt`), content);
    }
    await fs.rm(path.join(local, 'file-0.txt'));
    const second = await env.controller.push(sandbox.id, { localRoot: local, remoteDir: 'incremental' });
    assert.equal(second.files, changed.length);
    assert.equal(second.bytes, changedBytes);
    assert.equal(second.deleted, 0);
    assert.equal((await env.controller.exec(sandbox.id, { command: 'cat incremental/file-42.txt; ls incremental | wc -l' })).stdout, 'changed content 42\n200\n');

    const third = await env.controller.push(sandbox.id, { localRoot: local, remoteDir: 'incremental', deleteExtraneous: true });
    assert.equal(third.files, 0);
    assert.equal(third.deleted, 1);
    assert.equal((await env.controller.exec(sandbox.id, { command: 'ls incremental | wc -l' })).stdout, '199\n');

    const journal = await env.store.readJournal(sandbox.id);
    const syncs = journal.filter((entry) => entry.kind === 'sync' && entry.remote.endsWith('/incremental'));
    assert.deepEqual(syncs.map((entry) => entry.kind === 'sync' && entry.files), [200, 5, 0]);
  });

  it('sends a link into the folder as a relative link, and pushes past a file it cannot read', async function () {
    const local = tempDir();
    await fs.mkdir(path.join(local, 'out'));
    await fs.writeFile(path.join(local, 'out', 'a'), 'built\n');
    await fs.symlink(path.join(local, 'out', 'a'), path.join(local, 'out', 'b'));
    await fs.writeFile(path.join(local, 'secret.key'), 'no', { mode: 0o000 });
    await fs.writeFile(path.join(local, 'readme.md'), 'read me\n');

    // Root reads through any mode: the CLI runs without the capabilities that let it.
    const asRoot = process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search'] : [];
    const argv = [...asRoot, process.execPath, CLI, '--json', 'sync', 'push', sandbox.name, local, '--to', 'linked'];
    const output = await new Promise<string>((resolve, reject) =>
      execFile(argv[0]!, argv.slice(1), { env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir } }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stdout}${stderr}`)) : resolve(stdout),
      ),
    );
    const summary = JSON.parse(output) as SyncSummary;

    assert.deepEqual(summary.skipped, [{ path: 'secret.key', reason: 'unreadable' }]);
    assert.equal(summary.files, 2);
    const seen = await env.controller.exec(sandbox.id, { command: 'readlink out/b; cat out/b readme.md; test -e secret.key || echo no-secret', cwd: 'linked' });
    assert.equal(seen.stdout, 'a\nbuilt\nread me\nno-secret\n');
  });

  it('restores what the agent deleted or changed in the sandbox, and names what it overwrote', async function () {
    const local = tempDir();
    await fs.mkdir(path.join(local, 'src'));
    await fs.writeFile(path.join(local, 'src', 'main.py'), 'print("ours")\n');
    await fs.writeFile(path.join(local, 'src', 'util.py'), 'x = 1\n');
    await fs.writeFile(path.join(local, 'notes.txt'), 'notes\n');
    await env.controller.push(sandbox.id, { localRoot: local, remoteDir: 'restore' });
    await env.controller.exec(sandbox.id, { command: 'echo "print(\\"agent\\")" > src/main.py && rm notes.txt && echo mine > agent.txt', cwd: 'restore' });

    const again = await env.controller.push(sandbox.id, { localRoot: local, remoteDir: 'restore' });

    assert.equal(again.files, 2);
    assert.deepEqual(again.overwrittenInSandbox, ['src/main.py']);
    const seen = await env.controller.exec(sandbox.id, { command: 'cat src/main.py notes.txt agent.txt', cwd: 'restore' });
    assert.equal(seen.stdout, 'print("ours")\nnotes\nmine\n');
    assert.equal((await env.controller.push(sandbox.id, { localRoot: local, remoteDir: 'restore' })).files, 0, 'matched: nothing more to send');
  });

  describe('a hostile sandbox', function () {
    /** Python that writes a crafted archive to stdout; installed in place of the sandbox's tar. */
    const crafted: Record<string, string> = {
      'a ../ path': `add_file(t, "../escaped.txt", b"pwned")`,
      'an absolute path': `add_file(t, "/tmp/absolute-escape.txt", b"pwned")`,
      'a symlink out of the tree, then a write through it': `
i = tarfile.TarInfo("./link"); i.type = tarfile.SYMTYPE; i.linkname = "/tmp"; t.addfile(i)
add_file(t, "./link/through-link.txt", b"pwned")`,
      'a relative symlink that climbs out': `
i = tarfile.TarInfo("./up"); i.type = tarfile.SYMTYPE; i.linkname = "../../.."; t.addfile(i)`,
      'a hardlink to /etc/passwd': `
i = tarfile.TarInfo("./passwd"); i.type = tarfile.LNKTYPE; i.linkname = "/etc/passwd"; t.addfile(i)`,
      'a hardlink out of the tree': `
i = tarfile.TarInfo("./hl"); i.type = tarfile.LNKTYPE; i.linkname = "../outside.txt"; t.addfile(i)`,
      'a device': `
i = tarfile.TarInfo("./null"); i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 3; t.addfile(i)`,
      'a fifo': `
i = tarfile.TarInfo("./pipe"); i.type = tarfile.FIFOTYPE; t.addfile(i)`,
      'a setuid file': `add_file(t, "./suid", b"#!/bin/sh\\n", 0o4755)`,
    };

    for (const [what, body] of Object.entries(crafted)) {
      it(`refuses ${what}, writes nothing outside the target, and leaves the local tree as it was`, async function () {
        const script = [
          '#!/usr/bin/python3',
          'import io, sys, tarfile',
          'def add_file(t, name, data, mode=0o644):',
          '    i = tarfile.TarInfo(name); i.size = len(data); i.mode = mode; t.addfile(i, io.BytesIO(data))',
          't = tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.GNU_FORMAT)',
          'add_file(t, "./innocent.txt", b"looks fine")',
          body.trim(),
          't.close()',
        ].join('\n');
        await env.controller.exec(sandbox.id, { command: 'cat > /usr/local/bin/tar && chmod 755 /usr/local/bin/tar', stdin: script, user: 'root' });
        try {
          const parent = tempDir('hostile-pull-');
          const target = path.join(parent, 'project');
          await fs.mkdir(path.join(target, 'src'), { recursive: true });
          await fs.writeFile(path.join(target, 'src', 'keep.txt'), 'precious\n');
          await fs.writeFile(path.join(target, 'innocent.txt'), 'original\n');
          const before = await snapshot(parent);

          await assert.rejects(env.controller.pull(sandbox.id, { remoteDir: '.', localRoot: target }), (error: unknown) => {
            assert.ok(isSandboxError(error, 'unsafe-archive'), `got ${String(error)}`);
            return true;
          });
          assert.deepEqual(await snapshot(parent), before);
          for (const escape of ['/tmp/absolute-escape.txt', '/tmp/through-link.txt', path.join(parent, 'escaped.txt')]) {
            assert.equal(existsSync(escape), false, `${escape} was written`);
          }
        } finally {
          await env.controller.exec(sandbox.id, { command: ['rm', '-f', '/usr/local/bin/tar'], user: 'root' });
        }
      });
    }

    it('refuses a pull over the size cap and leaves the tree as it was', async function () {
      await env.controller.exec(sandbox.id, { command: 'mkdir -p big && head -c 3000000 /dev/urandom > big/blob' });
      const target = tempDir('capped-pull-');
      await fs.writeFile(path.join(target, 'existing'), 'x');
      const before = await snapshot(target);
      await assert.rejects(env.controller.pull(sandbox.id, { remoteDir: 'big', localRoot: target, maxBytes: 1_000_000 }), (error: unknown) =>
        isSandboxError(error, 'unsafe-archive'),
      );
      assert.deepEqual(await snapshot(target), before);
    });
  });
});
