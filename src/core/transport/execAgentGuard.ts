/**
 * The exec agent's guard (Python, part of EXEC_AGENT_SCRIPT): each command is started by a guard
 * (a spare one made ahead, see execAgentSpares, or else a fork of the agent) that makes itself
 * the child subreaper of the command's tree (prctl PR_SET_CHILD_SUBREAPER), so nothing the
 * command starts leaves the tree a kill walks, not even a process that cleared its environment
 * and double-forked into a new session. The guard is done once the command is gone and nothing
 * of its tree holds its output; when the agent dies without stopping it (PR_SET_PDEATHSIG), it
 * kills its tree, unless detached. Uses the agent's spawn, Failure and scan_processes.
 */
export const AGENT_GUARD_PY = String.raw`
try:
    import ctypes                               # loaded once here: every guard is a fork of a process that ran this
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
    """The forked guard (when no spare guard is at hand): reports on a pipe and exits as the
    command did, so the agent's wait reads the command's status."""
    agent_pid = os.getppid()
    guard_setup(set(fd for fd in (stdin, stdout, stderr, report) if fd is not None))

    def say(message):
        os.write(report, json.dumps(message).encode())
        os.close(report)
    status = guard_command(argv, cwd, env, uid, gid, groups, stdin, stdout, stderr, say, detached, agent_pid)
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
        os.kill(os.getpid(), sig)               # die as the command did, so the agent reads the same status
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 255)


def guard_setup(keep):
    """What a guard does first: nothing of its parent's stays open but keep (the agent's pipes to
    the host, other commands' pipes), default signals, and it becomes the subreaper of what it starts."""
    gc.disable()                                # a collection would write to every page shared with the parent
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    low = 3
    for fd in sorted(set(keep) | {null}) + [1 << 20]:
        os.closerange(low, fd)
        low = fd + 1
    prctl(36, 1)                                # PR_SET_CHILD_SUBREAPER


def guard_command(argv, cwd, env, uid, gid, groups, stdin, stdout, stderr, say, detached, parent):
    """Starts the command under this guard and says {'pid'} or why not (then exits); returns the
    command's wait status once it is gone and nothing of its tree holds its output. Unless
    detached, the tree is killed when parent (the agent, or the spare maker that dies with it) dies."""
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
    if detached:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        prctl(1, 0)                             # PR_SET_PDEATHSIG off: a detached command outlives the agent
    else:
        signal.signal(signal.SIGHUP, kill_tree)
        prctl(1, signal.SIGHUP)                 # PR_SET_PDEATHSIG: the agent died
        if os.getppid() != parent:
            os._exit(255)
    try:
        pid, _ = spawn(argv, cwd, env, uid, gid, groups, stdin, stdout, stderr)
    except (Failure, OSError) as error:
        reason = error.reason if isinstance(error, Failure) else 'other'
        say({'reason': reason, 'message': str(error)})
        os._exit(0)
    outputs = set()
    for fd in (stdout, stderr):
        st = os.fstat(fd)
        outputs.add((st.st_dev, st.st_ino))
    for fd in (stdin, stdout, stderr):
        if fd is not None:
            os.close(fd)
    say({'pid': pid})
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
    return status


def tree_of(root):
    procs = scan_processes()
    children = {}
    for p, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(p)
    # Breadth first, so parents are signalled before their children (see kill in the agent).
    found, order, todo = set(), [], [root]
    while todo:
        for c in children.get(todo.pop(0), ()):
            if c not in found:
                found.add(c)
                order.append(c)
                todo.append(c)
    return order


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
