import { OOM_COUNT_PY, PROCESS_TREE_PY, REAP_PY } from '../transport/execGuardScript';

/**
 * The task supervisor: a small Python 3 program (standard library only) that runs a task's
 * command detached inside its sandbox, so the host side (scheduler, CLI, editor) may die and come
 * back without the work being killed or lost. Everything it knows goes into the attempt dir:
 *
 *   started, pid  one file under two names, made at most once (a hard link fails if it exists):
 *                 {"pid", "start" (its /proc start time), "startedAt"}
 *   stdout, stderr  the command's output
 *   exit          {"exitCode", "signal", "timedOut", "outOfMemory", "cancelled", "endedAt"}, by rename
 *
 * argv: python3 -I -S -c SUPERVISOR sandbox-task-supervisor DIR MARKER; stdin: JSON
 * {"argv", "cwd", "env", "timeoutMs"}. The launching process prints one line and exits at once:
 * `started`, `already-started`, `no-cwd`, `bad-dir` or `start-failed REASON`. The supervisor
 * itself double-forks into a session of its own with its stdio on /dev/null, makes itself the
 * child subreaper of the command (so a double-forked daemon stays in its tree), and gives the
 * command MARKER in SANDBOX_TASK_RUN. SIGUSR1 kills the tree (a cancel); the timeout sends TERM,
 * then KILL 2 s later. Once the command ended, what is left of its tree is ended the same way.
 */
export const SUPERVISOR_NAME = 'sandbox-task-supervisor';
/** The environment variable whose value (the attempt's marker) every process of a task's command carries. */
export const TASK_RUN_ENV = 'SANDBOX_TASK_RUN';

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or None. */
const START_TIME_PY = String.raw`
def start_time(pid):
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            raw = f.read()
        return int(raw[raw.rfind(b')') + 2:].split()[19])
    except (OSError, IndexError, ValueError):
        return None
`;

export const SUPERVISOR_SCRIPT = String.raw`
import errno, json, os, signal, stat, sys, time
${OOM_COUNT_PY}
${PROCESS_TREE_PY}
${START_TIME_PY}

def now():
    t = time.time()
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t)) + '.%03dZ' % (int(t * 1000) % 1000)


def write_atomic(folder, name, data):
    tmp = os.path.join(folder, '.%s.%d' % (name, os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, os.path.join(folder, name))


def own_dir(path):
    try:
        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    st = os.lstat(path)
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()


def main():
    folder, marker = sys.argv[2], sys.argv[3]
    request = json.loads(sys.stdin.buffer.read(8 << 20).decode('utf-8'))
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.umask(0o077)
        os.chdir('/')
        try:
            supervise(folder, marker, request, w)
        finally:
            os._exit(0)
    os.close(w)
    os.wait()
    said = b''
    while len(said) < 4096:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        said += chunk
    said = said.decode('utf-8', 'replace').strip() or 'start-failed other'
    print(said)
    sys.exit(0 if said in ('started', 'already-started') else 2)


def supervise(folder, marker, request, report):
    def say(text):
        os.write(report, (text + '\n').encode())
        os.close(report)
    if not own_dir(folder):
        return say('bad-dir')
    started = os.path.join(folder, 'started')
    if os.path.lexists(started):
        return say('already-started')
    if not (os.path.isdir(request['cwd']) and os.access(request['cwd'], os.X_OK)):
        return say('no-cwd')
    me = os.getpid()
    tmp = os.path.join(folder, '.started.%d' % me)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.write(fd, json.dumps({'pid': me, 'start': start_time(me), 'startedAt': now()}).encode())
    os.fsync(fd)
    os.close(fd)
    try:
        os.link(tmp, started)                   # exclusive like O_EXCL, and whole from the start
    except FileExistsError:
        os.unlink(tmp)
        return say('already-started')
    os.rename(tmp, os.path.join(folder, 'pid'))

    env = {}
    with open('/proc/self/environ', 'rb') as f:  # as we got it, untouched by Python's locale coercion
        for item in f.read().split(b'\0'):
            key, sep, value = item.partition(b'=')
            if sep:
                env[key] = value
    for key, value in request.get('env', {}).items():
        env[key.encode()] = value.encode()
    env[b'${TASK_RUN_ENV}'] = marker.encode()
    outputs = []
    for name in ('stdout', 'stderr'):
        outputs.append(os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600))
    try:
        import ctypes
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)         # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass
    oom_before = oom_count()
    state = {'timedOut': False, 'cancelled': False, 'phase': 0}

    def cancel(*_):
        state['cancelled'] = True
        signal_tree(me, signal.SIGKILL)

    def on_alarm(*_):
        # TERM first, then KILL 2 s later and again every half second while anything is left.
        state['timedOut'] = True
        state['phase'] += 1
        signal_tree(me, signal.SIGTERM if state['phase'] == 1 else signal.SIGKILL)
        signal.setitimer(signal.ITIMER_REAL, 2.0 if state['phase'] == 1 else 0.5)

    # Before the command starts: a cancel or a TERM at any time reaches its tree, never kills us.
    signal.signal(signal.SIGUSR1, cancel)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _: signal_tree(me, s))
    signal.signal(signal.SIGALRM, on_alarm)
    import subprocess
    try:
        child = subprocess.Popen(request['argv'], cwd=request['cwd'], env=env, stdin=subprocess.DEVNULL,
                                 stdout=outputs[0], stderr=outputs[1], close_fds=True, restore_signals=True)
    except OSError as error:
        reason = 'not-found' if error.errno in (errno.ENOENT, errno.ENOTDIR) else \
            'not-executable' if error.errno in (errno.EACCES, errno.EPERM, errno.ENOEXEC) else 'other'
        os.write(outputs[1], ('%s: %s\n' % (request['argv'][0], error.strerror)).encode('utf-8', 'replace'))
        finish(folder, 127, None, state, False)
        return say('start-failed ' + reason)
    for fd in outputs:
        os.close(fd)
    if state['cancelled']:
        cancel()
    timeout = request.get('timeoutMs')
    if timeout:
        signal.setitimer(signal.ITIMER_REAL, timeout / 1000.0)
    say('started')
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            status = None
            break
        if pid == child.pid:
            break
    # What the command left behind (daemons, background jobs) ends with it: TERM, then KILL.
    signal.setitimer(signal.ITIMER_REAL, 0)
    deadline = time.monotonic() + 2.0
    sig = signal.SIGTERM
    while reap():
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        signal_tree(me, sig)
        time.sleep(0.05)
    count = oom_count()
    oom = count is not None and oom_before is not None and count > oom_before
    if status is None:
        finish(folder, None, None, state, oom)
    elif os.WIFSIGNALED(status):
        finish(folder, None, signal_name(os.WTERMSIG(status)), state, oom)
    else:
        finish(folder, os.WEXITSTATUS(status), None, state, oom)


def finish(folder, code, sig, state, oom):
    write_atomic(folder, 'exit', json.dumps({
        'exitCode': code, 'signal': sig, 'timedOut': state['timedOut'], 'outOfMemory': oom,
        'cancelled': state['cancelled'], 'endedAt': now()}).encode())


def signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return 'SIG%d' % number


${REAP_PY}

main()
`;

/** Reads the attempt dir's files as the hostile input they are: no symlink, no FIFO, a size cap. */
const ATTEMPT_FILES_PY = String.raw`
import json, os, signal, stat, sys
${START_TIME_PY}

def open_regular(folder, name):
    try:
        fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def read_capped(folder, name, cap):
    fd = open_regular(folder, name)
    if fd is None:
        return None
    try:
        data = b''
        while len(data) <= cap:
            chunk = os.read(fd, cap + 1 - len(data))
            if not chunk:
                break
            data += chunk
        return data.decode('utf-8', 'replace')
    finally:
        os.close(fd)


def supervisor_pid(folder):
    """The supervisor's pid while it runs: same pid, same start time, same program."""
    try:
        info = json.loads(read_capped(folder, 'started', 1024))
        pid, start = info['pid'], info['start']
        if type(pid) is not int or pid <= 0 or type(start) is not int or start_time(pid) != start:
            return None
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return pid if b'${SUPERVISOR_NAME}' in f.read(65536).split(b'\0') else None
    except Exception:
        return None
`;

/**
 * argv: DIR WAIT_MS. Prints {"started", "exit" (raw text, capped), "alive", "stdoutBytes",
 * "stderrBytes"} once the command ended or WAIT_MS passed, so a watcher hears of an end at once
 * without asking often.
 */
export const INSPECT_SCRIPT = String.raw`
${ATTEMPT_FILES_PY}
import time
folder = sys.argv[1]
deadline = time.monotonic() + int(sys.argv[2] if len(sys.argv) > 2 else 0) / 1000.0
while time.monotonic() < deadline and not os.path.lexists(os.path.join(folder, 'exit')) and supervisor_pid(folder) is not None:
    time.sleep(0.05)

def size(name):
    try:
        st = os.lstat(os.path.join(folder, name))
        return st.st_size if stat.S_ISREG(st.st_mode) else 0
    except OSError:
        return 0

print(json.dumps({'started': read_capped(folder, 'started', 1024), 'exit': read_capped(folder, 'exit', 4096),
                  'alive': supervisor_pid(folder) is not None, 'stdoutBytes': size('stdout'), 'stderrBytes': size('stderr')}))
`;

/** argv: DIR NAME OFFSET MAX. Writes up to MAX bytes of the file from OFFSET on stdout. */
export const READ_OUTPUT_SCRIPT = String.raw`
${ATTEMPT_FILES_PY}
folder, name, offset, left = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fd = open_regular(folder, name)
if fd is not None:
    os.lseek(fd, offset, os.SEEK_SET)
    while left > 0:
        chunk = os.read(fd, min(left, 65536))
        if not chunk:
            break
        sys.stdout.buffer.write(chunk)
        left -= len(chunk)
sys.stdout.flush()
`;

/** argv: DIR. Asks the supervisor to kill its tree (SIGUSR1); prints `signalled` or `gone`. */
export const CANCEL_SCRIPT = String.raw`
${ATTEMPT_FILES_PY}
pid = supervisor_pid(sys.argv[1])
if pid is not None:
    try:
        os.kill(pid, signal.SIGUSR1)
    except OSError:
        pid = None
print('gone' if pid is None else 'signalled')
`;
