import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { DESKTOP_RECIPE_NAME, findRecipeDir, loadRecipe } from '../../../../../src/core/images/recipe';
import type { DigitalOceanClient, Snapshot } from '../../../../../src/core/providers/digitalocean/api/client';
import {
  DESKTOP_BOOT_SCRIPT,
  DESKTOP_LOCK,
  DESKTOP_START,
  DESKTOP_UNIT,
  desktopBootScript,
  desktopUnit,
  dropletDesktopFiles,
  dropletPackageGroups,
} from '../../../../../src/core/providers/digitalocean/dropletDesktop';
import {
  ImageSnapshots,
  imageSnapshotName,
  parseImageSnapshotName,
  type ImageSnapshotDeps,
} from '../../../../../src/core/providers/digitalocean/imageSnapshots';
import { dropletUserData } from '../../../../../src/core/providers/digitalocean/userData';
import { generateEd25519 } from '../../../../../src/core/ssh/keys';

/** `sh -n`: the shell reads the script without a syntax error (nothing is run). */
function shellSyntax(script: string): { status: number | null; stderr: string } {
  const result = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

describe('DigitalOcean droplet desktop', () => {
  it('adds the desktop package group only for a desktop', () => {
    assert.deepEqual(dropletPackageGroups(false), ['base', 'docker']);
    assert.deepEqual(dropletPackageGroups(true), ['base', 'docker', 'desktop']);
  });

  it('keeps the desktop up with a root-owned unit that starts it as the user, restarting it always', () => {
    const unit = desktopUnit('agent', '1024x768');
    const lines = unit.split('\n');
    assert.ok(lines.includes(`ExecStart=${DESKTOP_START} agent 1024x768`));
    assert.ok(lines.includes('Restart=always'));
    assert.ok(lines.includes('StartLimitIntervalSec=0'), 'never gives up restarting');
    assert.ok(lines.includes('WantedBy=multi-user.target'));
    assert.ok(!/^User=/m.test(unit), 'desktop-start drops to the user itself, after its root-only clean-up');
  });

  it('starts the desktop once per boot: the unit where systemd runs, else in the background under a lock', () => {
    const script = desktopBootScript('agent', '1280x800');
    assert.deepEqual(shellSyntax(script), { status: 0, stderr: '' });
    assert.ok(script.startsWith('#!/bin/sh\n'));
    assert.match(script, /command -v Xvfb .* \|\| exit 0/, 'before the packages it does nothing');
    assert.match(
      script,
      new RegExp(
        `if \\[ -d /run/systemd/system \\]; then\\n.*\\n  systemctl daemon-reload\\n  systemctl enable ${DESKTOP_UNIT}\\n.*\\n  exec systemctl start --no-block ${DESKTOP_UNIT}\\nfi`,
      ),
    );
    assert.ok(script.includes(`setsid flock -n -o ${DESKTOP_LOCK} ${DESKTOP_START} agent 1280x800 < /dev/null >> `));
  });

  it('refuses a user or size that could not go into the scripts as they are, and root', () => {
    assert.throws(() => desktopUnit('root', '1280x800'), /"root" cannot run a droplet's desktop/);
    assert.throws(() => desktopBootScript('agent; reboot', '1280x800'), /cannot run a droplet's desktop/);
    assert.throws(() => desktopUnit('agent', '1280x800; reboot'), /is not a desktop size/);
    assert.throws(() => desktopBootScript('agent', '100x100'), /is not a desktop size/);
  });

  it('installs the same start scripts a desktop container runs, all root-owned, executable and valid shell', () => {
    const files = dropletDesktopFiles('agent', '1280x800');
    assert.deepEqual(
      files.map((file) => [file.path, file.permissions]),
      [
        [DESKTOP_START, '0755'],
        ['/usr/local/bin/sandbox-desktop', '0755'],
        [`/etc/systemd/system/${DESKTOP_UNIT}`, '0644'],
        [DESKTOP_BOOT_SCRIPT, '0755'],
      ],
    );
    const recipe = loadRecipe(DESKTOP_RECIPE_NAME);
    for (const name of ['desktop-start', 'sandbox-desktop']) {
      const shipped = recipe.files.find((file) => file.path === name)!;
      assert.ok(
        files.some((file) => file.content === shipped.content.toString('utf8')),
        `${name} is the desktop image's own`,
      );
      assert.deepEqual(shellSyntax(shipped.content.toString('utf8')), { status: 0, stderr: '' });
    }
  });

  it('desktop-start refuses root and a size that is not one before it touches anything', () => {
    const script = path.join(findRecipeDir(DESKTOP_RECIPE_NAME), 'desktop-start');
    const asRoot = spawnSync('sh', [script, 'root', '1280x800'], { encoding: 'utf8' });
    assert.equal(asRoot.status, 2);
    assert.match(asRoot.stderr, /no user root to run the desktop as/);
    const badSize = spawnSync('sh', [script, 'nobody', '1280x800x1'], { encoding: 'utf8' });
    assert.equal(badSize.status, 2);
    assert.match(badSize.stderr, /is not a size WIDTHxHEIGHT/);
    const noArguments = spawnSync('sh', [script], { encoding: 'utf8' });
    assert.equal(noArguments.status, 2);
  });

  it('puts the desktop into the user data: root-owned files, the desktop packages, and a start after them', () => {
    const text = dropletUserData({
      user: 'agent',
      workdir: '/home/agent/workspace',
      authorizedKey: generateEd25519('client').publicKey,
      hostKey: generateEd25519('host'),
      sudo: false,
      packages: dropletPackageGroups(true),
      desktop: '1024x768',
    });
    const lines = text.split('\n');
    for (const file of [DESKTOP_START, `/etc/systemd/system/${DESKTOP_UNIT}`, DESKTOP_BOOT_SCRIPT]) {
      const at = lines.indexOf(`  - path: ${file}`);
      assert.ok(at > 0, file);
      assert.equal(lines[at + 2], '    owner: root:root');
    }
    const packagesAt = lines.indexOf('  - [install-packages, base, docker, desktop]');
    const startAt = lines.indexOf(`  - [${DESKTOP_BOOT_SCRIPT}]`);
    assert.ok(packagesAt > lines.indexOf('runcmd:') && startAt > packagesAt, 'the first boot starts the desktop after its packages');
    assert.ok(text.includes(`      ExecStart=${DESKTOP_START} agent 1024x768`));

    const plain = dropletUserData({
      user: 'agent',
      workdir: '/w',
      authorizedKey: generateEd25519('client').publicKey,
      sudo: false,
      packages: ['base', 'docker'],
    });
    assert.ok(!plain.includes(DESKTOP_START) && !plain.includes(DESKTOP_BOOT_SCRIPT), 'no desktop unless asked');
  });

  describe('image snapshots', () => {
    const plainName = imageSnapshotName('ubuntu-24-04');
    const desktopName = imageSnapshotName('ubuntu-24-04', loadRecipe(DESKTOP_RECIPE_NAME).hash, true);

    it('names the desktop image with the desktop recipe hash, apart from the plain one', () => {
      assert.equal(desktopName, `agent-sandboxes-image-desktop-ubuntu-24-04-${loadRecipe(DESKTOP_RECIPE_NAME).hash}`);
      assert.notEqual(loadRecipe(DESKTOP_RECIPE_NAME).hash, loadRecipe().hash);
      assert.deepEqual(parseImageSnapshotName(desktopName), { os: 'ubuntu-24-04', hash: loadRecipe(DESKTOP_RECIPE_NAME).hash, desktop: true });
      assert.deepEqual(parseImageSnapshotName(plainName), { os: 'ubuntu-24-04', hash: loadRecipe().hash, desktop: false });
      assert.equal(parseImageSnapshotName('agent-sandboxes-image-desktop-debian-12-abc'), undefined);
    });

    function imagesWith(snapshots: Array<Pick<Snapshot, 'id' | 'name' | 'regions'>>): ImageSnapshots {
      const client = { dropletSnapshots: async () => snapshots } as unknown as DigitalOceanClient;
      const deps = { client: async () => client, clock: () => 0 } as unknown as ImageSnapshotDeps;
      return new ImageSnapshots(deps, 60_000);
    }

    it('boots a desktop from the desktop image first, then the plain image, then the base; a plain sandbox never from the desktop image', async () => {
      const both = imagesWith([
        { id: '11', name: plainName, regions: ['nyc3', 'ams3'] },
        { id: '22', name: desktopName, regions: ['nyc3'] },
      ]);
      assert.equal(await both.imageFor('ubuntu-24-04', 'nyc3', undefined, true), 22);
      assert.equal(await both.imageFor('ubuntu-24-04', 'ams3', undefined, true), 11, 'the desktop image is not in ams3');
      assert.equal(await both.imageFor('ubuntu-24-04', 'nyc3'), 11);
      const desktopOnly = imagesWith([{ id: '22', name: desktopName, regions: ['nyc3'] }]);
      assert.equal(await desktopOnly.imageFor('ubuntu-24-04', 'nyc3'), undefined);
      assert.equal(await desktopOnly.imageFor('ubuntu-24-04', 'sfo3', undefined, true), undefined);
    });
  });
});
