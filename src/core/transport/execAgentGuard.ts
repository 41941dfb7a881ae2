/**
 * The exec agent's guard (Python, part of EXEC_AGENT_SCRIPT): each command is started by a fork
 * of the agent that makes itself the child subreaper of the command's tree (prctl
 * PR_SET_CHILD_SUBREAPER), so nothing the command starts leaves the tree a kill walks, not even
 * a process that cleared its environment and double-forked into a new session. The guard exits
 * as the command did once the command is gone and nothing of its tree holds its output; when
 * the agent dies without stopping it (PR_SET_PDEATHSIG), it kills its tree, unless detached.
 * Uses the agent's spawn, Failure and scan_processes.
 */
export const AGENT_GUARD_PY = String.raw`
try:
    import ctypes                               # loaded once here: every guard is a fork of the agent
    libc_prctl = ctypes.CDLL(None).prctl
    libc_prctl(36, 0, 0, 0, 0)                  # the first call's setup is done here, not in every guard
except Exception:
    libc_prctl = None


def prctl(option, value):
    try:
        return libc_prctl is not None and libc_prctl(option, value, 0, 0, 0) == 0
    except Exception:
        return False


def spawn_guarded(argv, cwd, env, uid, gid, groups, stdin, stdout, stderr, detached):
    """Forks the command's guard, which starts the command; returns the guard's pid."""
    report_r, report_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(report_r)
        os.close(report_w)
        raise
    if pid == 0:
        try:
            guard(argv, cwd, env, uid, gid, groups, stdin, stdout, stderr, report_w, detached)
        finally:
            os._exit(255)
    os.close(report_w)
    data = b''
    while True:
        chunk = os.read(report_r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(report_r)
    try:
        said = json.loads(data.decode('utf-8'))
    except ValueError:
        said = {'reason': 'other', 'message': 'the command could not start'}
    if 'pid' not in said:
        os.waitpid(pid, 0)
        raise Failure(said.get('reason', 'other'), said.get('message', ''))
    return pid


def guard(argv, cwd, env, uid, gid, groups, stdin, stdout, stderr, report, detached):
    """The forked guard: the subreaper of one command's tree, gone once the command is and
    nothing of its tree holds its output; it exits as the command did. When the agent dies
    without stopping it, it kills its tree (unless the command is detached)."""
    agent_pid = os.getppid()
    gc.disable()                                # a collection would write to every page shared with the agent
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    # Nothing of the agent's may stay open here: its pipes to the host, other commands' pipes.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    keep = set(fd for fd in (stdin, stdout, stderr, report, null) if fd is not None)
    low = 3
    for fd in sorted(keep) + [1 << 20]:
        os.closerange(low, fd)
        low = fd + 1
    prctl(36, 1)                                # PR_SET_CHILD_SUBREAPER
    me = os.getpid()

    def kill_tree(*_):
        signal_tree(me, signal.SIGTERM)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and tree_of(me):
            reap_any()
            time.sleep(0.02)
        while tree_of(me):
            signal_tree(me, signal.SIGKILL)
            reap_any()
            time.sleep(0.02)
        os._exit(137)
    if not detached:
        signal.signal(signal.SIGHUP, kill_tree)
        prctl(1, signal.SIGHUP)                 # PR_SET_PDEATHSIG: the agent died
        if os.getppid() != agent_pid:
            os._exit(255)
    try:
        pid, _ = spawn(argv, cwd, env, uid, gid, groups, stdin, stdout, stderr)
    except (Failure, OSError) as error:
        reason = error.reason if isinstance(error, Failure) else 'other'
        os.write(report, json.dumps({'reason': reason, 'message': str(error)}).encode())
        os._exit(0)
    outputs = set()
    for fd in (stdout, stderr):
        st = os.fstat(fd)
        outputs.add((st.st_dev, st.st_ino))
    for fd in keep - {null, report}:
        os.close(fd)
    os.write(report, json.dumps({'pid': pid}).encode())
    os.close(report)
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(255)
        if done == pid:
            break
    # With no child left there is no descendant either (orphans come to us): no need to look.
    while reap_any() and holds_output(me, outputs, uid, gid):
        time.sleep(0.05)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            import resource
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        except Exception:
            pass
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass                                # SIGKILL and SIGSTOP need no reset
        os.kill(me, sig)                        # die as the command did, so the agent reads the same status
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 255)


def tree_of(root):
    procs = scan_processes()
    children = {}
    for p, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(p)
    found, todo = set(), [root]
    while todo:
        for c in children.get(todo.pop(), ()):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


def signal_tree(root, sig):
    for p in tree_of(root):
        try:
            os.kill(p, sig)
        except OSError:
            pass


def holds_output(root, outputs, uid, gid):
    """Whether a process of the tree holds the command's output. Without CAP_SYS_PTRACE root
    may not look at other users' fds: those are looked at as the command's user."""
    denied = []

    def look(pids, miss):
        for p in pids:
            try:
                fds = os.listdir('/proc/%d/fd' % p)
            except PermissionError:
                miss.append(p)
                continue
            except OSError:
                continue
            for fd in fds:
                try:
                    st = os.stat('/proc/%d/fd/%s' % (p, fd))
                except PermissionError:
                    miss.append(p)
                    break
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in outputs:
                    return True
        return False
    if look(tree_of(root), denied):
        return True
    if denied and uid != 0:
        try:
            os.setegid(gid)
            os.seteuid(uid)
            return look(denied, [])
        finally:
            os.seteuid(0)
            os.setegid(0)
    return False


def reap_any():
    """Reaps what has ended; whether a child is still there."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return True
        except ChildProcessError:
            return False
`;
