/**
 * OpenSSH's shared connections (ControlMaster) for our sandbox hosts: made by `ssh` itself at the
 * first call, closed by us when a sandbox leaves our config (stopped, removed, moved), so no
 * master outlives the sandbox it reaches.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

/** Each Host block of a config we wrote, by alias, with its whole text. */
export function hostBlocks(config: string): Map<string, string> {
  const blocks = new Map<string, string>();
  let alias: string | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (alias !== undefined) blocks.set(alias, lines.join('\n'));
  };
  for (const line of config.split('\n')) {
    const host = /^Host (\S+)$/.exec(line);
    if (host) {
      flush();
      alias = host[1];
      lines = [line];
    } else if (alias !== undefined && line.trim() !== '') {
      lines.push(line);
    }
  }
  flush();
  return blocks;
}

/** Aliases whose block is gone from, or changed in, the new config: their masters reach what is no longer there. */
export function departedAliases(previous: string, next: string): string[] {
  const before = hostBlocks(previous);
  const after = hostBlocks(next);
  return [...before].filter(([alias, block]) => after.get(alias) !== block && block.includes('ControlMaster auto')).map(([alias]) => alias);
}

/** The folder of the control sockets, private to the user (OpenSSH refuses nothing here, but others could connect). */
export async function ensureControlDir(controlDir: string): Promise<void> {
  await mkdir(controlDir, { recursive: true, mode: 0o700 });
}

/**
 * Asks each departed alias's master to exit (`ssh -O exit`), reading the config the master was
 * made from, so its socket path is found the way OpenSSH found it. Nothing to do when no socket
 * exists; an alias without a master is no error.
 */
export async function closeMasters(previousConfig: string, aliases: string[], controlDir: string): Promise<void> {
  if (aliases.length === 0) return;
  const sockets = await readdir(controlDir).catch(() => [] as string[]);
  if (sockets.length === 0) return;
  const configFile = path.join(controlDir, `.departed-${process.pid}-${Date.now()}`);
  await writeFile(configFile, previousConfig, { mode: 0o600 });
  try {
    await Promise.all(aliases.map((alias) => exitMaster(configFile, alias)));
  } finally {
    await rm(configFile, { force: true });
  }
}

function exitMaster(configFile: string, alias: string): Promise<void> {
  return new Promise((resolve) => {
    execFile('ssh', ['-F', configFile, '-o', 'BatchMode=yes', '-O', 'exit', alias], { timeout: 5000 }, () => resolve());
  });
}
