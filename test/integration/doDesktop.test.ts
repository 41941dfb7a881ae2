import * as assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxController } from '../../src/core/controller';
import { VNC_PORT, screenshot } from '../../src/core/desktop';
import { DigitalOceanProvider } from '../../src/core/providers/digitalocean/provider';
import { DESKTOP_BOOT_SCRIPT, DESKTOP_START, DESKTOP_UNIT } from '../../src/core/providers/digitalocean/dropletDesktop';
import { StateStore } from '../../src/core/store/stateStore';
import { startCloud, type StandInCloud } from '../doStandIn/harness';
import { rootExec } from './helpers';

const NAME = 'do-desk';
/** Not the desktop image's default (1280x800): the size seen must be the one asked for. */
const WIDTH = 1024;
const HEIGHT = 768;

/**
 * A desktop on a droplet end to end: the stand-in boots the droplet as a real container with the
 * real cloud-init (no systemd, so the per-boot script's locked start is what runs), and the
 * desktop is read the product's way, over a direct-tcpip channel of the droplet's SSH connection.
 */
describe('DigitalOcean desktop droplet against the stand-in (integration)', function () {
  this.timeout(600_000);
  let cloud: StandInCloud;
  let stateDir: string;
  let controller: SandboxController;

  before(async () => {
    cloud = await startCloud({ bootDroplets: true, bootDelayMs: 500, actionDelayMs: 500 });
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'do-desktop-'));
    const env = { DIGITALOCEAN_TOKEN: cloud.token, AGENT_SANDBOXES_DIGITALOCEAN_URL: cloud.apiUrl };
    const provider = new DigitalOceanProvider({
      stateRoot: stateDir,
      env,
      fetch: cloud.fetch,
      timing: { pollMs: 250, maxPollMs: 1000, bootTimeoutMs: 180_000 },
    });
    controller = new SandboxController({ store: new StateStore(stateDir), providers: { digitalocean: provider } });
  });

  after(async () => {
    controller?.dispose();
    await cloud?.close();
    if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
  });

  /** The droplet's container, read as root from outside (test equipment's view). */
  function inside(script: string): Promise<string> {
    const droplet = cloud.standIn.state.droplets({}).find((candidate) => candidate.name === NAME)!;
    return rootExec(cloud.machines!.containerOf(droplet.id)!, script);
  }

  /** A screenshot over SSH; the desktop may still be coming up, so a few tries. */
  async function screenshotWhenUp(): Promise<{ width: number; height: number; png: Buffer }> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      try {
        return await screenshot(controller, NAME);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  /** The desktop's processes with their users, and what listens on the VNC port. */
  async function desktopState(): Promise<{ users: string[]; listeners: string[]; xServers: number }> {
    const processes = await inside('ps -eo user:32=,comm= | grep -E " (Xvfb|x11vnc|xfwm4|xfce4-session)$" || true');
    const users = [
      ...new Set(
        processes
          .split('\n')
          .filter(Boolean)
          .map((line) => line.trim().split(/\s+/)[0]!),
      ),
    ];
    const listening = await inside(`ss -Hltn "sport = :${VNC_PORT}"`);
    const listeners = listening
      .split('\n')
      .filter(Boolean)
      .map((line) => line.trim().split(/\s+/)[3]!);
    const xServers = processes.split('\n').filter((line) => / Xvfb$/.test(line)).length;
    return { users, listeners, xServers };
  }

  it('runs a desktop of the size asked for as the agent, VNC on its loopback only, reached over SSH; again after a power cycle', async () => {
    const sandbox = await controller.create({ provider: 'digitalocean', name: NAME, profile: { desktop: `${WIDTH}x${HEIGHT}` }, cloud: { region: 'nyc3' } });
    assert.equal(sandbox.state, 'running');
    assert.equal(sandbox.profile.desktop, `${WIDTH}x${HEIGHT}`, 'the record keeps the desktop');

    const first = await screenshotWhenUp();
    assert.deepEqual([first.width, first.height], [WIDTH, HEIGHT]);
    assert.equal(first.png.subarray(1, 4).toString('latin1'), 'PNG');
    const state = await desktopState();
    assert.deepEqual(state.users, ['agent'], 'every desktop process runs as the agent, none as root');
    assert.deepEqual(state.listeners, [`127.0.0.1:${VNC_PORT}`], 'x11vnc listens on the droplet loopback only');
    assert.equal(state.xServers, 1, 'one desktop: the boot script and the first boot start it once');
    const owners = await inside(
      `stat -c '%U %a %n' ${DESKTOP_START} /usr/local/bin/sandbox-desktop /etc/systemd/system/${DESKTOP_UNIT} ${DESKTOP_BOOT_SCRIPT}`,
    );
    for (const line of owners.trim().split('\n')) assert.match(line, /^root (755|644) /, line);

    const stopped = await controller.stop(NAME);
    assert.equal(stopped.state, 'stopped');
    const started = await controller.start(NAME);
    assert.equal(started.state, 'running');
    assert.equal(started.profile.desktop, `${WIDTH}x${HEIGHT}`);
    const again = await screenshotWhenUp();
    assert.deepEqual([again.width, again.height], [WIDTH, HEIGHT]);
    const after = await desktopState();
    assert.deepEqual(after.users, ['agent']);
    assert.deepEqual(after.listeners, [`127.0.0.1:${VNC_PORT}`]);
    assert.equal(after.xServers, 1);

    assert.deepEqual(cloud.contractViolations, []);
    assert.deepEqual(cloud.standIn.internalErrors, []);
    assert.deepEqual(cloud.machines!.failures, []);
  });
});
