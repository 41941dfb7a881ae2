import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { installLauncher, isOnPath, LAUNCHER_ENV, launcherFile, refreshLauncher, removeLauncher, type LauncherTarget } from '../../../src/app/cliLauncher';
import { selfCommand } from '../../../src/cli/command';
import { isSandboxError } from '../../../src/core/errors';

/** A folder with a fake CLI, a fake editor runtime and a fake `node` whose version a test chooses. */
function setUp() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'launcher-'));
  const home = path.join(root, 'home');
  const bin = path.join(root, 'bin');
  mkdirSync(home);
  mkdirSync(bin);
  const cli = path.join(root, "ext it's", 'dist', 'cli.js');
  mkdirSync(path.dirname(cli), { recursive: true });
  writeFileSync(cli, '// the bundled CLI\n');
  const runtime = path.join(root, 'editor runtime');
  writeFileSync(runtime, '#!/bin/sh\necho "runtime ELECTRON_RUN_AS_NODE=${ELECTRON_RUN_AS_NODE:-unset} $*"\n', { mode: 0o755 });
  const fakeNode = (version: string | undefined) => {
    const file = path.join(bin, 'node');
    rmSync(file, { force: true });
    if (version === undefined) return;
    writeFileSync(file, `#!/bin/sh\nif [ "$1" = --version ]; then echo ${version}; exit 0; fi\necho "node $*"\n`);
    chmodSync(file, 0o755);
  };
  /** Runs the launcher the way a shell does, with only the fake bin and the system folders on PATH. */
  const run = (...args: string[]) => execFileSync(launcherFile(home), args, { encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin`, HOME: home } }).trim();
  return { root, home, bin, cli, runtime, fakeNode, run, cleanUp: () => rmSync(root, { recursive: true, force: true }) };
}

describe('the sandbox command launcher', function () {
  let fixture: ReturnType<typeof setUp>;
  beforeEach(function () {
    fixture = setUp();
  });
  afterEach(function () {
    fixture.cleanUp();
  });
  const electron = (): LauncherTarget => ({ cli: fixture.cli, runtime: fixture.runtime, electron: true });

  it('writes ~/.local/bin/sandbox with mode 0755, creating the folder, and says whether the folder is on PATH', async function () {
    const result = await installLauncher(electron(), { home: fixture.home, pathVariable: '/usr/bin:/bin' });
    assert.equal(result.file, path.join(fixture.home, '.local/bin/sandbox'));
    assert.equal(result.changed, true);
    assert.equal(result.onPath, false);
    assert.equal(statSync(result.file).mode & 0o777, 0o755);
    const again = await installLauncher(electron(), { home: fixture.home, pathVariable: `/usr/bin:${fixture.home}/.local/bin/` });
    assert.deepEqual(again, { file: result.file, changed: false, onPath: true });
  });

  it('runs the CLI with a Node.js 20.19 or newer from PATH, passing every argument', async function () {
    await installLauncher(electron(), { home: fixture.home });
    fixture.fakeNode('v20.19.0');
    assert.equal(fixture.run('list', '--json'), `node ${fixture.cli} list --json`);
    fixture.fakeNode('v22.1.0');
    assert.equal(fixture.run('exec', 'a b'), `node ${fixture.cli} exec a b`);
  });

  it("falls back to the editor's runtime, as Node.js, when PATH has no Node.js or only an older one", async function () {
    await installLauncher(electron(), { home: fixture.home });
    fixture.fakeNode('v20.18.3');
    assert.equal(fixture.run('list'), `runtime ELECTRON_RUN_AS_NODE=1 ${fixture.cli} list`);
    fixture.fakeNode('v18.19.0');
    assert.equal(fixture.run('list'), `runtime ELECTRON_RUN_AS_NODE=1 ${fixture.cli} list`);
    fixture.fakeNode('not a version');
    assert.equal(fixture.run('list'), `runtime ELECTRON_RUN_AS_NODE=1 ${fixture.cli} list`);
    fixture.fakeNode(undefined);
    if (!existsOnSystemPath('node')) assert.equal(fixture.run('list'), `runtime ELECTRON_RUN_AS_NODE=1 ${fixture.cli} list`);
  });

  it('runs a plain Node.js runtime (code-server) without the Electron switch', async function () {
    await installLauncher({ ...electron(), electron: false }, { home: fixture.home });
    fixture.fakeNode('v20.0.0');
    assert.equal(fixture.run('list'), `runtime ELECTRON_RUN_AS_NODE=unset ${fixture.cli} list`);
  });

  it('runs a real CLI with the real Node.js of this machine', async function () {
    writeFileSync(fixture.cli, 'console.log(JSON.stringify([process.argv.slice(2), process.env.AGENT_SANDBOXES_LAUNCHER]));\n');
    await installLauncher({ cli: fixture.cli, runtime: process.execPath, electron: false }, { home: fixture.home });
    const output = execFileSync(launcherFile(fixture.home), ['list', "it's"], {
      encoding: 'utf8',
      env: { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` },
    });
    // The CLI learns that it runs as `sandbox`, for the commands its hints suggest.
    assert.deepEqual(JSON.parse(output), [['list', "it's"], launcherFile(fixture.home)]);
    assert.equal(selfCommand({ [LAUNCHER_ENV]: launcherFile(fixture.home) }, fixture.cli), 'sandbox');
    assert.match(selfCommand({}, fixture.cli), /^node .*cli\.js$/);
  });

  it('says what to do when the extension it points at is gone', async function () {
    await installLauncher(electron(), { home: fixture.home });
    rmSync(fixture.cli);
    assert.throws(
      () => execFileSync(launcherFile(fixture.home), ['list'], { encoding: 'utf8', stdio: 'pipe' }),
      (error: { status: number; stderr: string }) => error.status === 127 && /is gone.*Install 'sandbox' Command in PATH/.test(error.stderr),
    );
  });

  it('refuses to overwrite or remove a sandbox command it did not write, and leaves it as it was', async function () {
    const file = launcherFile(fixture.home);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '#!/bin/sh\necho mine\n', { mode: 0o700 });
    await assert.rejects(installLauncher(electron(), { home: fixture.home }), (error: unknown) => {
      assert.ok(isSandboxError(error, 'conflict'));
      assert.match((error as Error).message, /was not written by this extension, so it was left alone; remove or rename it/);
      return true;
    });
    await assert.rejects(removeLauncher({ home: fixture.home }), (error: unknown) => isSandboxError(error, 'conflict'));
    assert.equal(readFileSync(file, 'utf8'), '#!/bin/sh\necho mine\n');
    assert.equal(statSync(file).mode & 0o777, 0o700);
  });

  it('refuses a folder in the way', async function () {
    mkdirSync(launcherFile(fixture.home), { recursive: true });
    await assert.rejects(installLauncher(electron(), { home: fixture.home }), (error: unknown) => isSandboxError(error, 'conflict'));
  });

  it('removes its own launcher, and says so when there is none', async function () {
    const { file } = await installLauncher(electron(), { home: fixture.home });
    assert.deepEqual(await removeLauncher({ home: fixture.home }), { file, removed: true });
    assert.throws(() => statSync(file), /ENOENT/);
    assert.deepEqual(await removeLauncher({ home: fixture.home }), { file, removed: false, reason: 'absent' });
  });

  it('points its own launcher at the CLI of an updated extension, and writes none where there was none', async function () {
    assert.equal(await refreshLauncher(electron(), { home: fixture.home }), false);
    assert.throws(() => statSync(launcherFile(fixture.home)), /ENOENT/);
    await installLauncher(electron(), { home: fixture.home });
    assert.equal(await refreshLauncher(electron(), { home: fixture.home }), false);
    const updated = path.join(fixture.root, 'ext-0.2.0', 'dist', 'cli.js');
    mkdirSync(path.dirname(updated), { recursive: true });
    writeFileSync(updated, '');
    assert.equal(await refreshLauncher({ ...electron(), cli: updated }, { home: fixture.home }), true);
    fixture.fakeNode('v24.0.0');
    assert.equal(fixture.run('list'), `node ${updated} list`);
  });

  it('finds a folder on PATH written with ~ or a trailing slash', function () {
    assert.equal(isOnPath('/h/.local/bin', '/usr/bin:~/.local/bin', '/h'), true);
    assert.equal(isOnPath('/h/.local/bin', '/usr/bin:/h/.local/bin/', '/h'), true);
    assert.equal(isOnPath('/h/.local/bin', '/usr/bin::/bin', '/h'), false);
  });
});

function existsOnSystemPath(program: string): boolean {
  return ['/usr/bin', '/bin'].some((dir) => {
    try {
      statSync(path.join(dir, program));
      return true;
    } catch {
      return false;
    }
  });
}
