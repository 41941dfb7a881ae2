/**
 * A desktop on a droplet: the files and steps the droplet's user data carries so the desktop
 * (Xvfb, XFCE, x11vnc on the droplet's own 127.0.0.1:5900) runs as the sandbox user at every
 * boot. It is started by the same script a desktop container starts it with
 * (images/desktop/desktop-start), installed root-owned; the viewer reaches it through a
 * direct-tcpip channel of the droplet's SSH connection, as for any sandbox with a desktop.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { SandboxError } from '../../errors';
import { DESKTOP_RECIPE_NAME, findRecipeDir } from '../../images/recipe';
import { parseGeometry } from '../../profile';
import type { UserDataFile } from './userData';

export const DESKTOP_START = '/usr/local/sbin/desktop-start';
/** What desktop-start runs as the sandbox user: each part of the desktop, restarted when it ends. */
export const DESKTOP_SESSION = '/usr/local/bin/sandbox-desktop';
export const DESKTOP_UNIT = 'sandbox-desktop.service';
/** cloud-init runs what is here at every boot, in its last stage. */
export const DESKTOP_BOOT_SCRIPT = '/var/lib/cloud/scripts/per-boot/sandbox-desktop';
/** Held by the desktop's starter for as long as the desktop runs, where no systemd does: one desktop per boot. */
export const DESKTOP_LOCK = '/run/sandbox-desktop.lock';
export const DESKTOP_LOG = '/var/log/sandbox-desktop.log';

/** The package groups of install-packages a droplet needs, with a desktop or without. */
export function dropletPackageGroups(desktop: boolean): string[] {
  return desktop ? ['base', 'docker', 'desktop'] : ['base', 'docker'];
}

/** Both go into shell text as they are: a user name of plain characters and a checked size only. */
function checkedArguments(user: string, geometry: string): string {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user) || user === 'root') {
    throw new SandboxError('invalid-input', `"${user}" cannot run a droplet's desktop; use a plain user name other than root.`);
  }
  const [width, height] = parseGeometry(geometry);
  return `${user} ${width}x${height}`;
}

/** Keeps the desktop up where systemd runs: restarted whenever it ends, with no limit on how often. */
export function desktopUnit(user: string, geometry: string): string {
  return [
    '[Unit]',
    `Description=Sandbox desktop (Xvfb, XFCE, x11vnc on 127.0.0.1:5900) as ${user}`,
    'After=network.target',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    `ExecStart=${DESKTOP_START} ${checkedArguments(user, geometry)}`,
    'Restart=always',
    'RestartSec=2',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * Starts the desktop once per boot: cloud-init runs it at every boot (before the first boot's
 * packages are in, when it does nothing) and the first boot once more after the packages.
 */
export function desktopBootScript(user: string, geometry: string): string {
  const args = checkedArguments(user, geometry);
  return `#!/bin/sh
# Starts this droplet's desktop as ${user}, once per boot.
set -eu
# The first boot runs this again once its packages are in.
command -v Xvfb > /dev/null 2>&1 && command -v x11vnc > /dev/null 2>&1 || exit 0
if [ -d /run/systemd/system ]; then
  # The unit file came with this instance's user data: systemd reads it again before it is used.
  systemctl daemon-reload
  systemctl enable ${DESKTOP_UNIT}
  # No waiting: this runs inside cloud-init's last stage, which the desktop need not hold up.
  exec systemctl start --no-block ${DESKTOP_UNIT}
fi
# No systemd: flock holds the lock for as long as the desktop runs (-o keeps it from the
# desktop's own processes), so a second start in the same boot finds it taken and does nothing.
setsid flock -n -o ${DESKTOP_LOCK} ${DESKTOP_START} ${args} < /dev/null >> ${DESKTOP_LOG} 2>&1 &
`;
}

function desktopRecipeFile(name: string): string {
  return readFileSync(path.join(findRecipeDir(DESKTOP_RECIPE_NAME), name), 'utf8');
}

/** The files of a droplet's desktop, all root-owned: the sandbox user can change none of them. */
export function dropletDesktopFiles(user: string, geometry: string): UserDataFile[] {
  return [
    { path: DESKTOP_START, permissions: '0755', content: desktopRecipeFile('desktop-start') },
    { path: DESKTOP_SESSION, permissions: '0755', content: desktopRecipeFile('sandbox-desktop') },
    { path: `/etc/systemd/system/${DESKTOP_UNIT}`, permissions: '0644', content: desktopUnit(user, geometry) },
    { path: DESKTOP_BOOT_SCRIPT, permissions: '0755', content: desktopBootScript(user, geometry) },
  ];
}

/** The runcmd step after the packages: the first boot's start of the desktop. */
export function desktopRunCommand(): string {
  return `[${DESKTOP_BOOT_SCRIPT}]`;
}
