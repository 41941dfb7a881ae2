/**
 * Spare guards for the exec agent (Python, part of EXEC_AGENT_SCRIPT). Forking the agent for
 * every command's guard costs milliseconds (tens under load), mostly copy-on-write faults in
 * both processes. Instead, a small process started once beside the agent (the spare maker,
 * SPARE_MAKER_NAME in `ps`) forks guards ahead of need; the agent hands one its command over a
 * socket (the command's pipes passed as SCM_RIGHTS) and asks for a replacement, which is made
 * while the command runs. A guard made this way is the same guard (execAgentGuard): subreaper
 * of the command's tree, holding the result while its tree holds the output, killing its tree
 * when the agent dies (the maker dies with the agent, PR_SET_PDEATHSIG, and the guard with
 * the maker); it says the command's wait status on its socket, since the agent cannot wait for
 * a process it is not the parent of. With no spare at hand the agent forks a guard as before.
 *
 * The socket of a guard, agent -> guard: [u32 length][JSON request], with the command's
 * stdout, stderr and (when it has one) stdin. Guard -> agent: JSON lines, {"pid"} or
 * {"reason", "message"}, then {"status"}. Maker <-> agent (SOCK_SEQPACKET, the maker's fd 3):
 * each byte from the agent asks for one guard; each answer is a u32 pid with the agent's end of
 * the new guard's socket (pid 0 and no socket when the fork failed).
 */

/** The spare maker's argv[1]: not the agent's name, so looking for the agent finds only it. */
export const SPARE_MAKER_NAME = 'sandbox-exec-spares';

export const AGENT_SPARES_PY = String.raw`
import array, select, socket

SPARES_KEPT = 4         # idle guards kept for reuse; a burst beyond what is ready forks the agent's own
SPARE_WAIT = 1.0        # how long a start waits for a guard already asked of the maker
MAKER_RESTART = 10.0    # a maker that died is started again at most this often
PID = struct.Struct('>I')


def send_fds(sock, data, fds):
    return sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds))])


def recv_fds(sock, size, most):
    # Close-on-exec: nothing we are passed may leak into a program started later.
    data, ancillary, _, _ = sock.recvmsg(size, socket.CMSG_SPACE(most * array.array('i').itemsize),
                                         getattr(socket, 'MSG_CMSG_CLOEXEC', 0x40000000))
    fds = array.array('i')
    for level, kind, raw in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(raw[:len(raw) - len(raw) % fds.itemsize])
    return data, list(fds)


# ---- in the spare maker ----

def spare_maker_main():
    """Forks a spare guard for each byte the agent sends on fd 3; ends with the agent."""
    agent_pid = int(sys.argv[3])
    prctl(1, signal.SIGKILL)                    # PR_SET_PDEATHSIG: gone with the agent...
    if os.getppid() != agent_pid:
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)   # guards are reaped by the kernel; each resets this
    ctl = socket.socket(fileno=3)
    gc.freeze()                                 # the guards share these pages untouched
    gc.disable()
    while True:
        try:
            asked = ctl.recv(64)
        except OSError:
            os._exit(0)
        if not asked:
            os._exit(0)                         # ...or when it closes its end
        for _ in asked:
            make_spare(ctl)


def make_spare(ctl):
    mine, theirs = socket.socketpair()
    try:
        pid = os.fork()
    except OSError:
        mine.close()
        theirs.close()
        ctl.send(PID.pack(0))
        return
    if pid == 0:
        own = mine.detach()
        theirs.detach()
        ctl.detach()
        try:
            spare_guard(own)
        finally:
            os._exit(255)
    try:
        send_fds(ctl, PID.pack(pid), [theirs.fileno()])
    except OSError:
        os._exit(0)                             # the agent is gone
    finally:
        mine.close()
        theirs.close()


def spare_guard(fd):
    """A guard waiting for a command: runs it as the agent's own guard would, says its status,
    and waits for the next one when nothing of the tree is left (a detached command's guard, or
    one with processes of its tree still running, ends as the agent's own guard does)."""
    maker = os.getppid()
    guard_setup({fd})
    sock = socket.socket(fileno=fd)
    while True:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        prctl(1, signal.SIGHUP)                 # the maker (so the agent) died while we waited: just go
        if os.getppid() != maker:
            os._exit(0)
        req, stdin, stdout, stderr = next_command(sock)

        def say(message):
            try:
                sock.sendall(json.dumps(message).encode() + b'\n')
            except OSError:
                pass                            # the agent is gone (a detached command goes on)
        status = guard_command(req['argv'], req['cwd'], req['env'], req['uid'], req['gid'], req['groups'],
                               stdin, stdout, stderr, say, req['detached'], maker)
        again = not req['detached'] and not reap_any()
        say({'status': status, 'again': again})
        if not again:
            os._exit(0)


def next_command(sock):
    """The agent's next request on a guard's socket, with the command's pipes; ends the guard at EOF."""
    try:
        data, fds = recv_fds(sock, 1 << 16, 3)
        if len(data) < 4:
            os._exit(0)                         # the agent closed us unused
        size = PID.unpack_from(data)[0]
        while len(data) < 4 + size:
            more = sock.recv(4 + size - len(data))
            if not more:
                os._exit(0)
            data += more
        req = json.loads(data[4:].decode('utf-8'))
    except (OSError, ValueError):
        os._exit(0)
    if len(fds) < 2:
        os._exit(0)
    return req, (fds[2] if len(fds) > 2 else None), fds[0], fds[1]


# ---- in the agent ----

class Spares(object):
    """The agent's side: the maker, and the guards it made that wait for a command."""

    def __init__(self, source, watch):
        self.source = source            # the agent's own program: the maker runs it too
        self.watch = watch              # watch(fd, wanted): the agent's select loop, told before a close
        self.ctl = None
        self.pid = None
        self.ready = collections.deque()        # (guard pid, socket)
        self.asked = 0
        self.started_at = None
        self.warm = False               # the maker has made a guard: worth waiting for the next one

    def start(self):
        """Starts the maker (posix_spawn: no fork of the agent) and asks it for the spares."""
        if not hasattr(os, 'posix_spawn') or not hasattr(socket, 'SOCK_SEQPACKET'):
            return
        now = time.monotonic()
        if self.started_at is not None and now - self.started_at < MAKER_RESTART:
            return
        self.started_at = now
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        src_r, src_w = os.pipe()
        try:
            try:
                fcntl.fcntl(src_w, getattr(fcntl, 'F_SETPIPE_SZ', 1031), len(self.source))
            except OSError:
                pass                    # a smaller pipe: the write below waits for the maker to read
            argv = [sys.executable, '-I', '-S', '-c', BOOT, SPARE_MAKER, str(len(self.source)), str(os.getpid())]
            self.pid = os.posix_spawn(sys.executable, argv, dict(os.environ), file_actions=[
                (os.POSIX_SPAWN_DUP2, src_r, 0), (os.POSIX_SPAWN_DUP2, theirs.fileno(), 3),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),     # never the host's pipes
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
            os.close(src_r)
            src_r = None
            view = memoryview(self.source)
            while view:
                view = view[os.write(src_w, view):]
        except OSError:
            ours.close()
            return
        finally:
            theirs.close()
            os.close(src_w)
            if src_r is not None:
                os.close(src_r)
        self.ctl = ours
        self.watch(ours.fileno(), True)
        self.ask(1)

    def ask(self, count):
        try:
            self.ctl.send(b'+' * count)
            self.asked += count
        except OSError:
            self.stop()

    def receive(self):
        """A guard from the maker (or its end)."""
        try:
            data, fds = recv_fds(self.ctl, 8, 1)
        except BlockingIOError:
            return
        except OSError:
            data, fds = b'', []
        if len(data) < 4:
            for fd in fds:
                os.close(fd)
            return self.stop()
        self.asked -= 1
        pid = PID.unpack_from(data)[0]
        if pid and fds:
            self.ready.append((pid, socket.socket(fileno=fds[0])))
            self.warm = True

    def take(self):
        """A guard ready for a command, or None (then the agent forks one)."""
        if self.ctl is None:
            self.start()
        if not self.ready and self.ctl is not None and self.asked and self.warm:
            deadline = time.monotonic() + SPARE_WAIT
            while not self.ready and self.ctl is not None and self.asked:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.ctl], [], [], left)[0]:
                    break
                self.receive()
        if not self.ready:
            if self.ctl is not None and not self.asked:
                self.ask(1)
            return None
        spare = self.ready.popleft()
        if not self.ready and self.ctl is not None and not self.asked:
            self.ask(1)                 # one in reserve for a command started while this one runs
        return spare

    def give_back(self, spare):
        """A guard whose command is done and whose tree is empty, ready for another command."""
        if len(self.ready) < SPARES_KEPT and self.ctl is not None:
            spare[1].setblocking(True)
            self.ready.appendleft(spare)        # the last used first: its pages are the warm ones
        else:
            spare[1].close()                    # it reads EOF and ends

    def stop(self):
        if self.ctl is not None:
            self.watch(self.ctl.fileno(), False)
            self.ctl.close()
            self.ctl = None
        self.asked = 0
        self.warm = False
        while self.ready:
            self.ready.popleft()[1].close()

    def reap(self):
        if self.pid is not None:
            try:
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    self.pid = None
            except ChildProcessError:
                self.pid = None


def hand_over(spare, argv, cwd, env, uid, gid, groups, stdin, stdout, stderr, detached):
    """Gives a spare guard its command; returns its socket (and what it said past the start) once the command started, raises
    Failure when it could not, OSError when the guard was gone before it took the command."""
    pid, sock = spare
    data = json.dumps({'argv': argv, 'cwd': cwd, 'env': env, 'uid': uid, 'gid': gid, 'groups': groups,
                       'detached': detached}).encode()
    data = PID.pack(len(data)) + data
    fds = [stdout, stderr] + ([stdin] if stdin is not None else [])
    try:
        sent = send_fds(sock, data, fds)
        if sent < len(data):
            sock.sendall(data[sent:])
    except OSError:
        sock.close()
        raise
    said = b''
    while b'\n' not in said:
        chunk = sock.recv(4096)
        if not chunk:
            break
        said += chunk
    line, _, rest = said.partition(b'\n')    # a quick command's status may have come along
    try:
        report = json.loads(line.decode('utf-8'))
    except ValueError:
        report = {'reason': 'other', 'message': 'the command could not start'}
    if 'pid' not in report:
        sock.close()
        raise Failure(report.get('reason', 'other'), report.get('message', ''))
    sock.setblocking(False)
    return sock, rest
`;
