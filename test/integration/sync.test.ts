import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { SyncSummary } from '../../src/core/controller';
import { isSandboxError } from '../../src/core/errors';
import type { SandboxRecord } from '../../src/core/model';
import { assertLinksStayInside } from '../unit/core/sync/linkChecks';
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
    assert.equal(
      (await env.controller.exec(sandbox.id, { command: 'cat incremental/file-42.txt; ls incremental | wc -l' })).stdout,
      'changed content 42\n200\n',
    );

    const third = await env.controller.push(sandbox.id, { localRoot: local, remoteDir: 'incremental', deleteExtraneous: true });
    assert.equal(third.files, 0);
    assert.equal(third.deleted, 1);
    assert.equal((await env.controller.exec(sandbox.id, { command: 'ls incremental | wc -l' })).stdout, '199\n');

    const journal = await env.store.readJournal(sandbox.id);
    const syncs = journal.filter((entry) => entry.kind === 'sync' && entry.remote.endsWith('/incremental'));
    assert.deepEqual(
      syncs.map((entry) => entry.kind === 'sync' && entry.files),
      [200, 5, 0],
    );
    // Other processes read the same pushes, as counts, from events.jsonl.
    const told = (await env.controller.eventLog.read(0)).events.filter(
      (event) => event.type === 'sync.ended' && event.sandboxId === sandbox.id && event.remote.endsWith('/incremental'),
    );
    assert.deepEqual(
      told.map((event) => event.type === 'sync.ended' && [event.direction, event.files, event.deleted, event.error]),
      [
        ['push', 200, 0, undefined],
        ['push', 5, 0, undefined],
        ['push', 0, 1, undefined],
      ],
    );
  });

  it('pulls a venv and absolute links: links inside become relative, those leading outside are listed; a replaced local link is said', async function () {
    await env.controller.exec(sandbox.id, {
      command: `set -e; mkdir -p links/out links/data; cd links; echo a > out/a; echo result > data/result.txt
        ln -s ${sandbox.workdir}/links/out/a out/b; ln -s ../out/a data/rel; ln -s /etc/passwd passwd
        python3 -m venv --without-pip venv`,
    });
    const target = path.join(tempDir('links-pull-'), 'project');
    const elsewhere = tempDir('elsewhere-');
    await fs.mkdir(target);
    await fs.symlink(elsewhere, path.join(target, 'data'));

    const pulled = await env.cli(['sync', 'pull', sandbox.name, 'links', '--to', target, '--json']);
    assert.equal(pulled.code, 0, pulled.stderr);
    const summary = JSON.parse(pulled.stdout) as {
      skippedLinks: { path: string; target: string; reason: string }[];
      replacedLinks: { path: string; target: string }[];
    };

    const outside = `points outside ${sandbox.workdir}/links`;
    assert.deepEqual(
      summary.skippedLinks.sort((a, b) => a.path.localeCompare(b.path)),
      [
        { path: 'passwd', target: '/etc/passwd', reason: outside },
        { path: 'venv/bin/python3', target: '/usr/bin/python3', reason: outside },
      ],
    );
    assert.deepEqual(summary.replacedLinks, [{ path: 'data', target: elsewhere }]);
    assert.equal(await fs.readlink(path.join(target, 'out/b')), 'a');
    assert.equal(await fs.readFile(path.join(target, 'out/b'), 'utf8'), 'a\n');
    assert.equal(await fs.readlink(path.join(target, 'data/rel')), '../out/a');
    assert.equal(await fs.readlink(path.join(target, 'venv/bin/python')), 'python3');
    assert.equal(await fs.readlink(path.join(target, 'venv/lib64')), 'lib');
    assert.ok(existsSync(path.join(target, 'venv/pyvenv.cfg')));
    assert.deepEqual(await fs.readdir(elsewhere), [], 'nothing written through the replaced link');
    assertLinksStayInside(target);

    // The same pull in words: every skipped link and the replaced one are named.
    await fs.rm(path.join(target, 'data'), { recursive: true });
    await fs.symlink(elsewhere, path.join(target, 'data'));
    const said = await env.cli(['sync', 'pull', sandbox.name, 'links', '--to', target]);
    assert.equal(said.code, 0, said.stderr);
    assert.match(said.stdout, /^Skipped 2 symlinks \(not written locally\):$/m);
    assert.match(said.stdout, /^ {2}passwd -> \/etc\/passwd: points outside \/\S+\/links$/m);
    assert.match(said.stdout, /^ {2}venv\/bin\/python3 -> \/usr\/bin\/python3: points outside \/\S+\/links$/m);
    assert.match(said.stdout, new RegExp(`Replaced 1 local symlink with the sandbox's folder or file:\\n {2}data \\(was a link to ${elsewhere}\\)`));
  });

  it('streams a large pull with bounded memory, and an abort midway leaves the tree as it was', async function () {
    const mib = 1024 * 1024;
    await env.controller.exec(sandbox.id, { command: 'mkdir -p large && head -c 96M /dev/zero | split -b 1M - large/part-' });
    const parent = tempDir('large-pull-');
    const target = path.join(parent, 'project');
    await fs.mkdir(target);
    await fs.writeFile(path.join(target, 'part-ab'), 'local version');
    const before = await snapshot(parent);

    // Buffers are what an archive held in memory would show in.
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const sample = () => (peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline));
    const sampler = setInterval(sample, 5);
    // A slow disk (or a busy extension host): 50 MB/s at most, which the sandbox must wait for.
    const slowly = () => {
      sample();
      for (const until = Date.now() + 20; Date.now() < until;);
    };
    try {
      const summary = await env.controller.pull(sandbox.id, { remoteDir: 'large', localRoot: path.join(parent, 'copy'), onProgress: slowly });
      assert.equal(summary.bytes, 96 * mib);
    } finally {
      clearInterval(sampler);
    }
    // Held in memory, the archive alone would take 96 MiB; streamed, 8 MiB wait and the rest is garbage not yet collected.
    assert.ok(peak < 96 * mib, `${Math.round(peak / mib)} MiB of buffers at the peak of a 96 MiB pull`);

    const controller = new AbortController();
    await assert.rejects(
      env.controller.pull(sandbox.id, {
        remoteDir: 'large',
        localRoot: target,
        signal: controller.signal,
        onProgress: (progress) => progress.bytes > 32 * mib && controller.abort(),
      }),
      (error: unknown) => isSandboxError(error, 'cancelled'),
    );
    await fs.rm(path.join(parent, 'copy'), { recursive: true });
    assert.deepEqual(await snapshot(parent), before, 'the target as it was, and no staging folder left');
    await env.controller.exec(sandbox.id, { command: ['rm', '-rf', 'large'] });
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

    /** Puts a tar in front of the real one that writes an innocent file, then `body`, whatever it is asked. */
    async function installTar(body: string): Promise<void> {
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
    }
    const removeTar = () => env.controller.exec(sandbox.id, { command: ['rm', '-f', '/usr/local/bin/tar'], user: 'root' });

    for (const [what, body] of Object.entries(crafted)) {
      it(`refuses ${what}, writes nothing outside the target, and leaves the local tree as it was`, async function () {
        await installTar(body);
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
          await removeTar();
        }
      });
    }

    it('skips a relative symlink that climbs out, lists it, writes the rest and no link that leaves the target', async function () {
      await installTar(`i = tarfile.TarInfo("./up"); i.type = tarfile.SYMTYPE; i.linkname = "../../.."; t.addfile(i)`);
      try {
        const parent = tempDir('hostile-pull-');
        const target = path.join(parent, 'project');
        await fs.mkdir(path.join(target, 'src'), { recursive: true });
        await fs.writeFile(path.join(target, 'src', 'keep.txt'), 'precious\n');
        await fs.symlink('/', path.join(parent, 'sibling-link'));
        const before = await snapshot(parent);

        const summary = await env.controller.pull(sandbox.id, { remoteDir: '.', localRoot: target });

        assert.deepEqual(summary.skippedLinks, [{ path: 'up', target: '../../..', reason: `leads outside ${sandbox.workdir}` }]);
        assert.equal(await fs.readFile(path.join(target, 'innocent.txt'), 'utf8'), 'looks fine');
        assert.equal(existsSync(path.join(target, 'up')), false);
        assertLinksStayInside(target);
        const after = await snapshot(parent);
        const outsideTarget = (entries: Record<string, string>) => Object.fromEntries(Object.entries(entries).filter(([key]) => !key.startsWith('project')));
        assert.deepEqual(outsideTarget(after), outsideTarget(before));
        assert.equal(after['project/src/keep.txt'], before['project/src/keep.txt']);
      } finally {
        await removeTar();
      }
    });

    it('refuses a pull over the size cap and leaves the tree as it was', async function () {
      await env.controller.exec(sandbox.id, { command: 'mkdir -p big && head -c 3000000 /dev/urandom > big/blob' });
      const target = tempDir('capped-pull-');
      await fs.writeFile(path.join(target, 'existing'), 'x');
      const before = await snapshot(target);
      await assert.rejects(env.controller.pull(sandbox.id, { remoteDir: 'big', localRoot: target, maxBytes: 1_000_000 }), (error: unknown) =>
        isSandboxError(error, 'unsafe-archive'),
      );
      assert.deepEqual(await snapshot(target), before);
      // The failed pull is an event too, with its error code.
      const failed = (await env.controller.eventLog.read(0)).events.filter(
        (event) => event.type === 'sync.ended' && event.sandboxId === sandbox.id && event.remote.endsWith('/big'),
      );
      assert.equal(failed.length, 1);
      assert.ok(
        failed[0]!.type === 'sync.ended' &&
          failed[0]!.direction === 'pull' &&
          failed[0]!.errorCode === 'unsafe-archive' &&
          failed[0]!.files === 0 &&
          failed[0]!.error !== undefined,
      );
    });
  });
});
