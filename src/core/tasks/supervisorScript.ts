import { OOM_COUNT_PY, PROCESS_TREE_PY } from '../transport/execGuardScript';

/** The environment variable every process of a task's command carries: the killer finds them by it. */
export const TASK_RUN_ENV = 'SANDBOX_TASK_RUN';

/**
 * The task supervisor: a Python 3 program (standard library only) started by one exec, which
 * reads its request (dir, cwd, command, env, timeout, marker) as JSON on stdin, so env values
 * never show in a process list. It creates the attempt dir, then the start marker with O_EXCL:
 * when the marker exists already it prints `already-started` and runs nothing, so a command
 * starts at most once per attempt, whoever asks. Otherwise it detaches (double fork, new
 * session, stdio to /dev/null) and prints `started` once the command is spawned; the exec that
 * launched it ends there. Detached, it is the subreaper of the command's tree, writes stdout and
 * stderr to files, enforces the timeout, and when the command ends kills what is left of its tree
 * and writes `exit` (JSON, through a rename) with the exit code or signal, the timeout and any
 * OOM kill.
 */
export const SUPERVISOR_SCRIPT = String.raw`
import json, os, signal, sys, time
${OOM_COUNT_PY}
${PROCESS_TREE_PY}

def now():
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())

def write_atomic(path, data):
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, data)
    os.close(fd)
    os.rename(tmp, path)

def start_time(pid):
    with open('/proc/%d/stat' % pid, 'rb') as f:
        raw = f.read()
    return raw[raw.rfind(b')') + 2:].split()[19].decode()

def main():
    spec = json.loads(sys.stdin.buffer.read(1 << 20))
    d, cwd, marker = spec['dir'], spec['cwd'], spec['marker']
    os.makedirs(d, mode=0o700, exist_ok=True)
    if not os.path.isdir(cwd):
        print('no-cwd')
        return
    try:
        marker_fd = os.open(os.path.join(d, 'started'), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print('already-started')
        return
    ready_r, ready_w = os.pipe()
    if os.fork() > 0:
        os.close(ready_w)
        os.read(ready_r, 1)
        print('started')
        sys.stdout.flush()
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.close(ready_r)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    try:
        import ctypes
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)         # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass
    me = os.getpid()
    write_atomic(os.path.join(d, 'pid'), json.dumps({'pid': me, 'start': start_time(me)}).encode())
    os.write(marker_fd, json.dumps({'at': now()}).encode())
    os.close(marker_fd)
    out = os.open(os.path.join(d, 'stdout'), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(os.path.join(d, 'stderr'), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    env = {k: v for k, v in os.environ.items() if k != 'SANDBOX_EXEC_ID'}
    env.update(spec.get('env') or {})
    env['${TASK_RUN_ENV}'] = marker
    command = spec['command']
    argv = ['sh', '-c', command] if isinstance(command, str) else command
    oom_before = oom_count()
    child = os.fork()
    if child == 0:
        try:
            os.chdir(cwd)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
            os.execvpe(argv[0], argv, env)
        except OSError as error:
            os.write(2, ('sandbox: the command %s could not start: %s\n' % (argv[0], error.strerror)).encode())
        os._exit(127)
    os.write(ready_w, b'1')
    os.close(ready_w)

    def signal_tree(sig):
        procs = parents()
        for pid in parents_first(descendants([me], procs), procs):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
    signal.signal(signal.SIGTERM, lambda *_: signal_tree(signal.SIGKILL))
    timeout = spec.get('timeoutMs')
    deadline = time.monotonic() + timeout / 1000.0 if timeout else None
    timed_out, term_sent = False, None
    status = None
    while status is None:
        pid, st = os.waitpid(-1, os.WNOHANG) if deadline else os.waitpid(-1, 0)
        if pid == child:
            status = st
            break
        if pid == 0:
            if deadline and time.monotonic() > deadline:
                if term_sent is None:
                    timed_out, term_sent = True, time.monotonic()
                    signal_tree(signal.SIGTERM)
                elif time.monotonic() - term_sent > 2:
                    signal_tree(signal.SIGKILL)
            time.sleep(0.05)
    # The command ended: what it left behind (daemons, background jobs) goes with it.
    for _ in range(50):
        left = descendants([me])
        if not left:
            break
        signal_tree(signal.SIGKILL)
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            break
        time.sleep(0.02)
    oom_after = oom_count()
    result = {'endedAt': now(), 'timedOut': timed_out,
              'outOfMemory': oom_before is not None and oom_after is not None and oom_after > oom_before}
    if os.WIFSIGNALED(status):
        result['exitCode'] = None
        result['signal'] = signal.Signals(os.WTERMSIG(status)).name
    else:
        result['exitCode'] = os.WEXITSTATUS(status)
    write_atomic(os.path.join(d, 'exit'), json.dumps(result).encode())
    os._exit(0)

main()
`;

/** Prints one JSON object, once the command ended or argv[2] ms passed: the start marker, the exit file (up to 4 KiB), whether the supervisor lives, output sizes. */
export const INSPECT_SCRIPT = String.raw`
import json, os, sys, time
d, wait = sys.argv[1], int(sys.argv[2]) / 1000.0
def read(name, limit=4096):
    try:
        with open(os.path.join(d, name), 'rb') as f:
            return f.read(limit).decode('utf-8', 'replace')
    except OSError:
        return None
def size(name):
    try:
        return os.stat(os.path.join(d, name)).st_size
    except OSError:
        return 0
def supervisor_alive():
    try:
        info = json.loads(read('pid') or '{}')
        with open('/proc/%d/stat' % int(info['pid']), 'rb') as f:
            raw = f.read()
        return raw[raw.rfind(b')') + 2:].split()[19].decode() == str(info['start'])
    except Exception:
        return False
# Waits (up to argv[2] ms) for the end, so a watcher hears of it at once without asking often.
deadline = time.monotonic() + wait
alive = supervisor_alive()
while alive and not os.path.exists(os.path.join(d, 'exit')) and time.monotonic() < deadline:
    time.sleep(0.05)
    alive = supervisor_alive()
print(json.dumps({'started': read('started'), 'exit': read('exit'), 'alive': alive, 'stdoutBytes': size('stdout'), 'stderrBytes': size('stderr')}))
`;

/** Writes up to argv[3] bytes of file argv[1] from offset argv[2] to stdout. */
export const READ_SCRIPT = String.raw`
import os, sys
try:
    with open(sys.argv[1], 'rb') as f:
        f.seek(int(sys.argv[2]))
        data = f.read(int(sys.argv[3]))
except OSError:
    data = b''
sys.stdout.buffer.write(data)
sys.stdout.buffer.flush()
`;
