/**
 * The exec guard: a small Python 3 program (standard library only) that the engine's exec and
 * the SSH wrapper run in place of a command. It makes itself the child subreaper of what it
 * starts (prctl PR_SET_CHILD_SUBREAPER), so a process that clears its environment and
 * double-forks into a new session is still its descendant, and a kill walks that tree. It
 * stays until the command exited and no descendant holds the exec's output, then exits with
 * the command's status. The exec agent does the same with a fork of itself (execAgentScript).
 *
 * argv: python3 -I -S -c GUARD sandbox-exec-guard NAME=marker FLAGS -- CMD ARG...
 * FLAGS: `c` checks that the program can start and reports it (as the SSH wrapper does).
 * Before anything else it writes one line on stderr: PRELUDE_PREFIX and the sandbox's OOM kill
 * count (empty when unknown), which the host takes off.
 */

export const GUARD_NAME = 'sandbox-exec-guard';
/** The first stderr line of a guarded command; never reaches the caller. */
export const PRELUDE_PREFIX = '\x1esandbox-exec ';
/** How a program that could not start is reported on stderr (exit 127); never reaches the caller. */
export const START_FAILURE_PREFIX = '\x1esandbox-start-failure ';

/**
 * Prints the OOM kill count of the cgroup this process is in (cgroup v2 memory.events, v1
 * memory.oom_control, in the process's own cgroup or at the mount's root, as a container sees
 * it), or nothing. Shared by the guard, the agent and the controller's read after a command.
 */
export const OOM_COUNT_PY = String.raw`
def oom_count_files():
    """Where the count may be, most likely first."""
    paths = []
    try:
        with open('/proc/self/cgroup') as f:
            for line in f:
                hier, ctrls, path = line.rstrip('\n').split(':', 2)
                if hier == '0' and ctrls == '':
                    paths.append('/sys/fs/cgroup%s/memory.events' % path.rstrip('/'))
                elif 'memory' in ctrls.split(','):
                    paths.append('/sys/fs/cgroup/memory%s/memory.oom_control' % path.rstrip('/'))
    except (OSError, ValueError):
        pass
    return paths + ['/sys/fs/cgroup/memory.events', '/sys/fs/cgroup/memory/memory.oom_control']


def parse_oom_count(text):
    for line in text.splitlines():
        key, _, value = line.partition(b' ')
        if key == b'oom_kill':
            return int(value)
    return None


def oom_count():
    for path in oom_count_files():
        try:
            with open(path, 'rb') as f:
                count = parse_oom_count(f.read())
            if count is not None:
                return count
        except (OSError, ValueError):
            continue
    return None
`;

/** Finds (pid -> ppid) and the descendants of a set of processes; shared by the guard and the killer. */
export const PROCESS_TREE_PY = String.raw`
def parents():
    found = {}
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                with open('/proc/%s/stat' % name, 'rb') as f:
                    raw = f.read()
                found[int(name)] = int(raw[raw.rfind(b')') + 2:].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return found


def descendants(roots, procs=None):
    procs = parents() if procs is None else procs
    children = {}
    for pid, ppid in procs.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def parents_first(pids, procs=None):
    # A shell whose children die before it would go on (its wait returns 0) and exit 0 before
    # its own signal arrives: signal nearer ancestors first.
    procs = parents() if procs is None else procs
    def depth(pid):
        d = 0
        while pid in procs and d < 4096:
            pid = procs[pid]
            d += 1
        return d
    return sorted(pids, key=depth)


def signal_tree(root, sig):
    """Signals every descendant of root, nearer ancestors first."""
    procs = parents()
    for pid in parents_first(descendants([root], procs), procs):
        try:
            os.kill(pid, sig)
        except OSError:
            pass
`;

/** reap(): waits for every child that ended; says whether one is left. Shared by the guard and the task supervisor. */
export const REAP_PY = String.raw`
def reap():
    # Whether a child is left: with none there is no descendant either (orphans come to us).
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return True
        except ChildProcessError:
            return False
`;

export const GUARD_SCRIPT = String.raw`
import os, signal, sys, time
${OOM_COUNT_PY}
${PROCESS_TREE_PY}

def main():
    marker, flags, argv = sys.argv[2], sys.argv[3], sys.argv[5:]
    try:
        import ctypes
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)         # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass
    count = oom_count()
    try:
        os.write(2, ('\x1esandbox-exec %s\n' % ('' if count is None else count)).encode())
    except OSError:
        pass
    env = {}
    with open('/proc/self/environ', 'rb') as f:      # as we got it, untouched by Python's locale coercion
        for item in f.read().split(b'\0'):
            key, sep, value = item.partition(b'=')
            if sep:
                env[key] = value
    key, _, value = marker.encode().partition(b'=')
    env[key] = value
    program = argv[0]
    if 'c' in flags and '/' not in program:
        for folder in env.get(b'PATH', b'').decode('utf-8', 'replace').split(':'):
            candidate = os.path.join(folder or '.', program)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                program = candidate
                break
        else:
            fail('not-found')
    if 'c' in flags and '/' in program:
        if not os.path.exists(program):
            fail('not-found')
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            fail('not-executable')
    outputs = set()
    for fd in (1, 2):
        try:
            st = os.fstat(fd)
            outputs.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    me = os.getpid()

    # TERM (or a hangup) goes to the whole tree; USR1 kills it. The guard stays until its tree is gone.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _: signal_tree(me, s))
    signal.signal(signal.SIGUSR1, lambda *_: signal_tree(me, signal.SIGKILL))
    defaults = set(getattr(signal, 'valid_signals', lambda: ())()) - {signal.SIGKILL, signal.SIGSTOP}
    try:
        if hasattr(os, 'posix_spawn'):
            child = os.posix_spawn(program if '/' in program else find(program, env), argv, env, setsigdef=defaults)
        else:
            child = os.fork()
            if child == 0:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGPIPE):
                    signal.signal(sig, signal.SIG_DFL)
                os.execvpe(program, argv, env)
    except OSError as error:
        fail('not-found' if error.errno in (2, 20) else 'not-executable' if error.errno in (1, 13) else 'other')
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            break
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    # Descendants still holding the output keep the exec open: stay their subreaper until they end.
    while reap() and holding(outputs):
        time.sleep(0.05)
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status))


def find(program, env):
    for folder in env.get(b'PATH', b'').decode('utf-8', 'replace').split(':'):
        candidate = os.path.join(folder or '.', program)
        if os.access(candidate, os.X_OK):
            return candidate
    return program


def fail(reason):
    os.write(2, ('\x1esandbox-start-failure %s\n' % reason).encode())
    os._exit(127)


def holding(outputs):
    for pid in descendants([os.getpid()]):
        try:
            fds = os.listdir('/proc/%d/fd' % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in outputs:
                return True
    return False


${REAP_PY}

main()
`;

/**
 * The killer: signals every process whose environment holds NAME=marker, and every descendant
 * of those and of the guard carrying that marker; the guard itself is left to end once its tree
 * is gone. Exits 3 when there was nothing to signal. argv: SIG NAME=marker.
 */
export const KILLER_SCRIPT = String.raw`
import os, signal, sys
${PROCESS_TREE_PY}
sig = signal.SIGKILL if sys.argv[1] == 'KILL' else signal.SIGTERM
needle = sys.argv[2].encode()
procs = parents()
marked, guards = set(), set()
for pid in procs:
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            args = f.read().split(b'\0')
        if len(args) > 6 and args[5] == b'${GUARD_NAME}' and args[6] == needle:
            guards.add(pid)
            continue
        with open('/proc/%d/environ' % pid, 'rb') as f:
            if needle in f.read().split(b'\0'):
                marked.add(pid)
    except OSError:
        pass
targets = (marked | descendants(marked | guards, procs)) - guards - {os.getpid(), os.getppid()}
for pid in parents_first(targets, procs):
    try:
        os.kill(pid, sig)
    except OSError:
        pass
sys.exit(0 if targets else 3)
`;

/** argv of the guard around a command. */
export function guardArgv(marker: string, flags: string, argv: string[]): string[] {
  return ['python3', '-I', '-S', '-c', GUARD_SCRIPT, GUARD_NAME, marker, flags || '-', '--', ...argv];
}
