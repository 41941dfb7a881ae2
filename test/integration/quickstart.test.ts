/**
 * ./quickstart.sh on a bare Debian bookworm (git, Node and npm; no Docker, the host's engine
 * socket not mounted): as an ordinary account it says what it found and the one step to take,
 * with the engine-down status 4; as root it installs docker.io from Debian's packages, starts
 * dockerd in the background and reaches a command's output in a sandbox. The containers that
 * hold an engine of their own (as privileged as this machine allows) are test equipment, not
 * sandboxes.
 */
import * as assert from 'node:assert/strict';
import { loadRecipe } from '../../src/core/images';
import { docker, ensureImage, uniqueName } from './helpers';
import {
  CLONE_IN_CONTAINER,
  TEST_LABEL,
  buildBareImage,
  removeAll,
  runIn,
  snapshotClone,
  fillEngineStore,
  startEngineHost,
  startIdle,
  type ContainerRun,
} from './quickstartFixture';

const PRETTY_NAME = 'Debian GNU/Linux 12 (bookworm)';
/** Prints whatever of Docker (or sudo) is there: the programs on PATH, dockerd in /usr/sbin, an engine socket. */
const DOCKER_THERE = 'for c in docker dockerd sudo; do command -v "$c"; done; ls /usr/sbin/dockerd /var/run/docker.sock 2>/dev/null; true';

function shown(run: ContainerRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

describe('quickstart.sh on a bare machine', function () {
  this.timeout(240_000);
  const run = uniqueName('quickstart-test');
  const made = { containers: [] as string[], volumes: [] as string[], images: [] as string[], dirs: [] as string[] };
  let bareImage: string;
  let clone: { dir: string; nodeModules: string };
  // The root case's inner engine keeps its /var/lib/docker here: overlay2 needs a filesystem
  // that is not itself an overlay.
  const volume = `${run}-engine`;
  const sandboxImage = loadRecipe().tag;
  // How long each step took, printed at the end with QUICKSTART_TEST_SHOW=1 (CI's time budget is tight).
  const laps: string[] = [];
  let lapStart = Date.now();
  const lap = (what: string) => {
    laps.push(`${what}: ${((Date.now() - lapStart) / 1000).toFixed(1)} s`);
    lapStart = Date.now();
  };

  before(async function () {
    this.timeout(600_000);
    await ensureImage();
    lap('sandbox image there');
    clone = await snapshotClone();
    made.dirs.push(clone.dir);
    lap('clone');
    await docker.createVolume({ Name: volume, Labels: { [TEST_LABEL]: run } });
    made.volumes.push(volume);
    // Building the sandbox image inside the root case's engine (mmdebstrap and some 500
    // packages) would take most of CI's time for this issue, so the outer engine's sandbox image
    // goes into that engine's store beforehand, while the bare image builds.
    const [built, filled] = await Promise.allSettled([
      buildBareImage(`agent-sandboxes-test/${run}:bare`, run),
      fillEngineStore({ volume, image: sandboxImage, cloneDir: clone.dir, name: `${run}-loader`, runLabel: run, made: made.containers }),
    ]);
    if (built.status === 'fulfilled') {
      bareImage = built.value;
      made.images.push(bareImage);
    }
    for (const outcome of [built, filled]) if (outcome.status === 'rejected') throw outcome.reason;
    lap('bare image built, sandbox image in the inner store');
  });

  after(async function () {
    this.timeout(120_000);
    await removeAll(made);
    lap('cleaned up');
    if (process.env.QUICKSTART_TEST_SHOW) console.log(laps.join('\n'));
  });

  it('as an ordinary account with no engine, says what it found and the one step to take, and exits 4', async function () {
    const id = await startIdle(bareImage, `${run}-user`, run, made.containers, { Binds: [`${clone.dir}:${CLONE_IN_CONTAINER}:ro`] });
    const bare = await runIn(id, ['sh', '-c', DOCKER_THERE], { user: 'newcomer' });
    assert.equal(bare.stdout, '', `the image has neither Docker, nor sudo, nor the host's socket: ${shown(bare)}`);

    const quickstart = await runIn(id, ['./quickstart.sh'], { user: 'newcomer' });
    assert.equal(quickstart.code, 4, shown(quickstart));
    assert.equal(quickstart.stdout, '', shown(quickstart));
    assert.equal(
      quickstart.stderr,
      `No Docker engine answers on ${PRETTY_NAME}: Docker is not installed, and this account can install none (it is not root and has no sudo); ` +
        'ask an administrator to install docker.io and add you to the docker group, or set up rootless Docker ' +
        '(https://docs.docker.com/engine/security/rootless/), then run ./quickstart.sh again.\n',
    );

    // An engine named by DOCKER_HOST is that engine's business: nothing is installed in its place.
    const elsewhere = await runIn(id, ['./quickstart.sh'], { user: 'newcomer', env: ['DOCKER_HOST=unix:///tmp/no-engine.sock'] });
    assert.equal(elsewhere.code, 4, shown(elsewhere));
    assert.equal(
      elsewhere.stderr,
      "DOCKER_HOST is set to unix:///tmp/no-engine.sock and no Docker engine answers there; start that engine, or unset DOCKER_HOST to use this machine's own, then run ./quickstart.sh again.\n",
    );
  });

  it('as root, installs docker.io from Debian, starts dockerd in the background and reaches a command in a sandbox', async function () {
    // A fresh container of the bare image; the store its engine will use already holds the sandbox image (see before).
    const root = await startEngineHost(bareImage, `${run}-root`, run, made.containers, [
      `${clone.dir}:${CLONE_IN_CONTAINER}`,
      `${clone.nodeModules}:${CLONE_IN_CONTAINER}/node_modules:ro`,
      `${volume}:/var/lib/docker`,
    ]);
    const bare = await runIn(root, ['sh', '-c', DOCKER_THERE]);
    assert.equal(bare.stdout, '', `a fresh container has no Docker: ${shown(bare)}`);

    lap('root container started');
    const quickstart = await runIn(root, ['./quickstart.sh']);
    lap('quickstart as root');
    if (process.env.QUICKSTART_TEST_SHOW) console.log(shown(quickstart));
    assert.equal(quickstart.code, 0, shown(quickstart));
    const said = quickstart.stderr.split('\n');
    for (const line of [
      `No Docker engine answers on ${PRETTY_NAME}: Docker is not installed; installing docker.io from the distribution's packages and starting it, as root.`,
      'Running apt-get install docker.io.',
      'Starting dockerd in the background (no systemd here); its log is /var/log/dockerd.log.',
    ]) {
      assert.ok(said.includes(line), `quickstart says "${line}": ${shown(quickstart)}`);
    }
    assert.match(quickstart.stderr, /^The Docker engine answers \(version \d+\.\d+\.\d+\S*\)\.$/m, shown(quickstart));
    assert.match(quickstart.stdout, /^hello from \S+ 3\.11\.\d+$/m, shown(quickstart));

    const inside = await runIn(root, ['sh', '-c', "dpkg-query -W -f '${Status}' docker.io && echo && docker ps --format '{{.Image}}'"]);
    assert.equal(inside.code, 0, shown(inside));
    assert.match(inside.stdout, /^install ok installed/, shown(inside));
    assert.ok(inside.stdout.includes(sandboxImage), `the sandbox runs on the inner engine from ${sandboxImage}: ${shown(inside)}`);
  });
});
