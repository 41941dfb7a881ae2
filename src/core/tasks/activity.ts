import type { ExecRequest, ExecResult } from '../model';
import { VNC_PORT } from '../desktop';

/**
 * What is going on in a sandbox, seen from inside it, whichever process on this machine (or
 * another) holds it: commands running (the kill markers every exec and task carries), terminals
 * (processes on a pseudo-terminal), SSH connections (sshd's per-connection processes: forwarded
 * ports and Remote-SSH ride on them) and viewers connected to the desktop's VNC server.
 * A sandbox showing any of these is never idle.
 */
export interface SandboxActivity {
  commands: number;
  terminals: number;
  sshConnections: number;
  desktopViewers: number;
}

const PROBE = String.raw`
import os, sys, json
me = os.getpid()
procs = {}
for name in os.listdir('/proc'):
    if name.isdigit():
        try:
            with open('/proc/%s/stat' % name, 'rb') as f:
                raw = f.read()
            fields = raw[raw.rfind(b')') + 2:].split()
            procs[int(name)] = (int(fields[1]), int(fields[4]))
        except (OSError, IndexError, ValueError):
            pass
mine = set()
pid = me
while pid in procs and pid not in mine:
    mine.add(pid)
    pid = procs[pid][0]
own = os.environ.get('SANDBOX_EXEC_ID')
def environ(pid):
    try:
        with open('/proc/%d/environ' % pid, 'rb') as f:
            return f.read().split(b'\0')
    except OSError:
        return []
def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read(200)
    except OSError:
        return b''
commands = terminals = ssh = 0
for pid, (ppid, tty) in procs.items():
    if pid in mine:
        continue
    marked = False
    for item in environ(pid):
        key, _, value = item.partition(b'=')
        if key == b'SANDBOX_TASK_RUN' or (key == b'SANDBOX_EXEC_ID' and value.decode('latin1') != own):
            marked = True
    if marked:
        commands += 1
    if tty != 0:
        terminals += 1
    if cmdline(pid).startswith(b'sshd') and cmdline(ppid).startswith(b'sshd') and ppid not in mine:
        ssh += 1
viewers = 0
for table in ('/proc/net/tcp', '/proc/net/tcp6'):
    try:
        with open(table) as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) > 3 and parts[3] == '01' and int(parts[1].rsplit(':', 1)[1], 16) == PORT:
                    viewers += 1
    except (OSError, ValueError, StopIteration):
        pass
print(json.dumps({'commands': commands, 'terminals': terminals, 'sshConnections': ssh, 'desktopViewers': viewers}))
`.replace('PORT', String(VNC_PORT));

/** Looks inside the sandbox; what comes back is bounded and checked field by field. */
export async function probeActivity(run: (request: ExecRequest) => Promise<ExecResult>): Promise<SandboxActivity> {
  const result = await run({ command: ['python3', '-I', '-S', '-c', PROBE], maxOutputBytes: 4096, timeoutMs: 15_000 });
  if (result.exitCode !== 0) throw new Error(`The activity probe exited with ${result.exitCode}: ${result.stderr.slice(0, 200)}`);
  const parsed = JSON.parse(result.stdout) as Record<string, unknown>;
  const count = (value: unknown): number => (typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : 1);
  return {
    commands: count(parsed.commands),
    terminals: count(parsed.terminals),
    sshConnections: count(parsed.sshConnections),
    desktopViewers: count(parsed.desktopViewers),
  };
}

export function isBusy(activity: SandboxActivity): boolean {
  return activity.commands + activity.terminals + activity.sshConnections + activity.desktopViewers > 0;
}

/** In words, for the log: "2 commands, 1 terminal". */
export function describeActivity(activity: SandboxActivity): string {
  const parts: string[] = [];
  const add = (n: number, one: string) => n > 0 && parts.push(`${n} ${one}${n === 1 ? '' : 's'}`);
  add(activity.commands, 'command');
  add(activity.terminals, 'terminal');
  add(activity.sshConnections, 'SSH connection');
  add(activity.desktopViewers, 'desktop viewer');
  return parts.length ? parts.join(', ') : 'nothing';
}
