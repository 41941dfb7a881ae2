/**
 * The exec agent: a small Python 3 program (standard library only) that one long-lived
 * `docker exec` runs inside a sandbox. Every later command of that sandbox is a spawn from this
 * process instead of a new runc exec, which is what makes exec fast. Nothing is baked into the
 * image: any image with python3 >= 3.5 can run it (>= 3.8 for the fast spawn).
 *
 * Frames, both ways: [type u8][exec id u32][payload length u32][payload], big-endian. The
 * numbers here must match AgentFrame in execAgentProtocol.ts.
 */

import { AGENT_GUARD_PY } from './execAgentGuard';
import { AGENT_SPARES_PY, SPARE_MAKER_NAME } from './execAgentSpares';
import { OOM_COUNT_PY } from './execGuardScript';

/** The agent's argv[1]: names the process in `ps` (and lets a test find it with `pkill -f`). */
export const EXEC_AGENT_NAME = 'sandbox-exec-agent';

/** Bumped when the protocol changes; the agent says it in READY. */
export const EXEC_AGENT_PROTOCOL = 2;

/**
 * What `python3 -c` runs: reads the agent (argv[2] bytes) from stdin and runs it. The agent
 * itself does not go on the command line, where every `ps` in the sandbox would print all of it
 * and every `pkill -f <some word>` might hit it.
 */
export const EXEC_AGENT_BOOT = [
  'import os,sys',
  'n=int(sys.argv[2]);s=b""',
  'while len(s)<n:s+=os.read(0,n-len(s))or sys.exit(1)', // EOF before the whole source: give up
  'exec(s)',
].join('\n');

export const EXEC_AGENT_SCRIPT = String.raw`
# The exec agent of Agent Sandboxes: runs the host's commands, many at once, over this
# process's stdin and stdout. It ends (killing what it runs) when its stdin closes.
import collections, errno, fcntl, gc, grp, itertools, json, os, pwd, selectors, signal, stat, struct, subprocess, sys, time

HEAD = struct.Struct('>BII')
START, STDIN, STDIN_EOF, SIGNAL = 1, 2, 3, 4                              # host -> agent
READY, STARTED, START_FAILED, STDOUT, STDERR, EXIT, STDIN_ACK = 16, 17, 18, 19, 20, 21, 22
READ_SIZE = 1 << 20     # largest read, and the size our stdout pipe is grown to where allowed
OUT_HIGH = 4 << 20      # stop reading command output while this much waits for the host
KILL_ROUND = 0.05       # seconds between SIGKILL rounds once a kill was asked for
KILL_GIVE_UP = 3.0      # after this long, output still held open by an unkillable process is dropped
DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
BOOT, SPARE_MAKER = ${JSON.stringify(EXEC_AGENT_BOOT)}, '${SPARE_MAKER_NAME}'
${OOM_COUNT_PY}

class OomCounter(object):
    """oom_count(), read twice per command: the file is found once and kept open (a cgroup file
    reads afresh from offset 0)."""
    def __init__(self):
        self.fd = None

    def read(self):
        if self.fd is not None:
            try:
                count = parse_oom_count(os.pread(self.fd, 4096, 0))
                if count is not None:
                    return count
            except (OSError, ValueError):
                pass
            os.close(self.fd)
            self.fd = None
        for path in oom_count_files():
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                count = parse_oom_count(os.pread(fd, 4096, 0))
            except (OSError, ValueError):
                count = None
            if count is not None:
                self.fd = fd
                return count
            os.close(fd)
        return None


def base_environment():
    # /proc/self/environ is what docker exec gave us, untouched by Python (whose locale
    # coercion may add LC_CTYPE to os.environ).
    env = {}
    try:
        with open('/proc/self/environ', 'rb') as f:
            for item in f.read().split(b'\0'):
                key, sep, value = item.partition(b'=')
                if sep:
                    env[os.fsdecode(key)] = os.fsdecode(value)
    except OSError:
        env = dict(os.environ)
    # runc adds HOME (root's) only when the container does not set one: forget that one, so each
    # user gets its own home as with docker exec; a HOME set by the container stays for everyone.
    try:
        root_home = pwd.getpwuid(0).pw_dir
    except KeyError:
        root_home = '/'
    if env.get('HOME') == root_home:
        del env['HOME']
    env.setdefault('PATH', DEFAULT_PATH)
    return env


MAX_ID = 2147483647


def parse_id(text):
    """A number as the engine reads one (Go's strconv.Atoi): an optional sign, then ASCII digits."""
    digits = text[1:] if text[:1] in ('+', '-') else text
    if digits and all(c in '0123456789' for c in digits):
        return int(text)
    return None


def resolve_user(spec):
    """user[:group] exactly as the engine resolves it (runc's GetExecUser) -> (uid, gid, groups, home)."""
    fields = spec.split(':')
    name, group = fields[0], (fields[1] if len(fields) > 1 else '')
    uid_arg, gid_arg = parse_id(name), parse_id(group)
    entry = None
    try:
        if name == '':
            entry = pwd.getpwuid(0)
        elif uid_arg is not None:
            entry = pwd.getpwuid(uid_arg)   # a number is always a uid, never a name
        else:
            entry = pwd.getpwnam(name)
    except (KeyError, OverflowError):
        if uid_arg is None:
            raise LookupError('unable to find user %s: no matching entries in passwd file' % name)
    if entry is None and not 0 <= uid_arg <= MAX_ID:
        raise LookupError('unable to find user %s: numerical result out of range' % name)
    uid, gid = (entry.pw_uid, entry.pw_gid) if entry else (uid_arg, 0)
    if group:
        try:
            gid = grp.getgrgid(gid_arg).gr_gid if gid_arg is not None else grp.getgrnam(group).gr_gid
        except (KeyError, OverflowError):
            if gid_arg is None:
                raise LookupError('unable to find group %s: no matching entries in group file' % group)
            if not 0 <= gid_arg <= MAX_ID:
                raise LookupError('unable to find group %s: numerical result out of range' % group)
            gid = gid_arg
        groups = [gid]
    else:
        groups = os.getgrouplist(entry.pw_name, gid) if entry else [gid]
    return uid, gid, groups, entry.pw_dir if entry else '/'


class Failure(Exception):
    """A command that could not start: reason is not-found, not-executable, bad-cwd or other."""
    def __init__(self, reason, message):
        Exception.__init__(self, message)
        self.reason = reason


def find_program(name, path):
    """The file runc would run for argv[0]: looked up in the command's own PATH."""
    if '/' in name:
        return name
    for folder in (path or '').split(':'):
        candidate = os.path.join(folder or '.', name)
        try:
            mode = os.stat(candidate).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and mode & 0o111:
            return candidate
    raise Failure('not-found', 'exec: "%s": executable file not found in $PATH' % name)


# Every signal back to its default in the command, as docker exec gives it (Python ignores
# SIGPIPE and SIGXFSZ). glibc's posix_spawn still leaves its two internal signals (32, 33)
# ignored; glibc programs install their own handlers for those at start, so nobody sees it.
DEFAULT_SIGNALS = set(getattr(signal, 'valid_signals', lambda: ())()) - {signal.SIGKILL, signal.SIGSTOP}


def spawn(argv, cwd, env, uid, gid, groups, stdin, stdout, stderr):
    """Starts the command in its own session as the given user; returns (pid, keep-alive object)."""
    global can_posix_spawn
    switch = (uid, gid, set(groups)) != (os.getuid(), os.getgid(), set(os.getgroups()))
    if can_posix_spawn:
        try:
            return spawn_vforking(argv, cwd, env, uid, gid, groups, stdin, stdout, stderr, switch)
        except NotImplementedError:     # this libc's posix_spawn cannot start a session
            can_posix_spawn = False
    return spawn_forking(argv, cwd, env, uid, gid, groups, stdin, stdout, stderr, switch)


can_posix_spawn = hasattr(os, 'POSIX_SPAWN_DUP2')     # Python >= 3.8


def spawn_vforking(argv, cwd, env, uid, gid, groups, stdin, stdout, stderr, switch):
    # posix_spawn uses vfork: a fork of this process costs several milliseconds on some hosts.
    # It cannot change user itself, so we lend the command's ids to our *real* ids for the
    # moment of the spawn (the effective ids stay root) and ask it to reset the child's
    # effective ids to them; execve then sets the saved ids too. access() checks real ids,
    # so the checks below answer for the command's user.
    own_groups = os.getgroups()
    try:
        if switch:
            os.setgroups(groups)
            os.setresgid(gid, -1, -1)
            os.setresuid(uid, -1, -1)
        try:
            os.chdir(cwd)
        except OSError as error:
            raise Failure('bad-cwd', 'chdir to cwd (%s): %s' % (cwd, error.strerror))
        if not os.access('.', os.X_OK):
            raise Failure('bad-cwd', 'chdir to cwd (%s): permission denied' % cwd)
        program = find_program(argv[0], env.get('PATH'))
        actions = [(os.POSIX_SPAWN_DUP2, stdout, 1), (os.POSIX_SPAWN_DUP2, stderr, 2)]
        if stdin is None:
            actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
        else:
            actions.append((os.POSIX_SPAWN_DUP2, stdin, 0))
        try:
            pid = os.posix_spawn(program, argv, env, file_actions=actions, setsid=True, resetids=switch,
                                 setsigdef=DEFAULT_SIGNALS)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENOTDIR):
                raise Failure('not-found', '%s: %s' % (argv[0], error.strerror))
            if error.errno in (errno.EACCES, errno.EPERM):
                raise Failure('not-executable', '%s: %s' % (argv[0], error.strerror))
            raise Failure('other', '%s: %s' % (argv[0], error.strerror))
        return pid, None
    finally:
        os.chdir('/')
        if switch:
            os.setresuid(0, -1, -1)
            os.setresgid(0, -1, -1)
            os.setgroups(own_groups)


def spawn_forking(argv, cwd, env, uid, gid, groups, stdin, stdout, stderr, switch):
    def switch_user():
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True, close_fds=True,
                                stdin=subprocess.DEVNULL if stdin is None else stdin, stdout=stdout,
                                stderr=stderr, preexec_fn=switch_user if switch else None)
    except OSError as error:
        if error.filename == cwd and error.filename != argv[0]:
            raise Failure('bad-cwd', str(error))
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            raise Failure('not-found', str(error))
        if error.errno in (errno.EACCES, errno.EPERM):
            raise Failure('not-executable', str(error))
        raise Failure('other', str(error))
    except (subprocess.SubprocessError, ValueError, TypeError) as error:
        raise Failure('other', str(error))
    return proc.pid, proc


${AGENT_GUARD_PY}
${AGENT_SPARES_PY}

def scan_processes():
    """pid -> (ppid, process group, session) of every process we can see."""
    found = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, 'rb') as f:
                raw = f.read()
            # The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
            fields = raw[raw.rfind(b')') + 2:].split()
            found[int(name)] = (int(fields[1]), int(fields[2]), int(fields[3]))
        except (OSError, IndexError, ValueError):
            continue                    # gone meanwhile
    return found


class Exec(object):
    def __init__(self, xid, pid, proc, stdin_fd, outputs, uid, gid, marker, detached=False, oom_before=None, channel=None):
        self.xid, self.pid, self.proc, self.stdin_fd = xid, pid, proc, stdin_fd
        self.channel, self.said = channel, b''   # a spare guard's socket: it says the status there
        self.again = False              # that guard can take another command once this one is done
        self.waits = channel is None    # a guard we forked ourselves: its exit is the status
        self.detached, self.oom_before = detached, oom_before
        self.outputs = outputs          # fd -> STDOUT or STDERR, while open
        self.uid, self.gid, self.marker = uid, gid, marker
        self.pending = collections.deque()   # stdin data not yet taken by the command
        self.stdin_eof = False
        self.status = None              # wait status once reaped
        self.kill_since = None          # when SIGKILL was first asked for
        self.killed_at = 0.0            # last SIGKILL round

    def poll(self):
        if self.status is None and self.waits:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 0
            if pid:
                self.status = status
                if self.proc is not None:
                    self.proc.returncode = 0    # reaped here: Popen must not wait for it again
        return self.status


class Agent(object):
    def __init__(self):
        self.env = base_environment()
        self.sel = selectors.DefaultSelector()
        self.execs = {}
        self.inbuf = bytearray()
        self.out = collections.deque()  # frames (headers and payloads) not yet written
        self.out_size = 0
        self.paused = False             # command output not read while the host is behind
        self.stopping = False
        self.oom = OomCounter()
        self.spares = Spares(OWN_SOURCE, lambda fd, wanted: self.watch(fd, selectors.EVENT_READ, 'spares', wanted))
        os.set_blocking(0, False)
        os.set_blocking(1, False)
        try:                            # fewer, larger writes to the host (1031: F_SETPIPE_SZ)
            fcntl.fcntl(1, getattr(fcntl, 'F_SETPIPE_SZ', 1031), READ_SIZE)
        except OSError:
            pass
        # Signals wake the select loop through this pipe.
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self.on_term)
        signal.signal(signal.SIGHUP, self.on_term)
        self.sel.register(0, selectors.EVENT_READ, 'host')
        self.sel.register(self.wake_r, selectors.EVENT_READ, 'wake')

    def on_term(self, *_):
        self.stopping = True

    # ---- to the host ----

    def send(self, kind, xid, payload=b''):
        # Written out at the end of the loop turn, so frames made together leave in one write.
        self.out.append(HEAD.pack(kind, xid, len(payload)))
        if payload:
            self.out.append(payload)
        self.out_size += HEAD.size + len(payload)
        if self.out_size >= READ_SIZE:
            self.flush()

    def flush(self):
        while self.out:
            try:
                n = os.writev(1, list(itertools.islice(self.out, 0, 64)))
            except BlockingIOError:
                break
            self.out_size -= n
            while n:                    # drop what went out; no copying of what did not
                head = self.out[0]
                if n >= len(head):
                    n -= len(head)
                    self.out.popleft()
                else:
                    self.out[0] = memoryview(head)[n:]
                    n = 0
        self.watch(1, selectors.EVENT_WRITE, 'out', bool(self.out))
        behind = self.out_size > OUT_HIGH
        if behind != self.paused:
            self.paused = behind
            for ex in self.execs.values():
                for fd in ex.outputs:
                    self.watch(fd, selectors.EVENT_READ, ex, not behind)

    def watch(self, fd, events, data, wanted):
        registered = fd in self.sel.get_map()
        if wanted and not registered:
            self.sel.register(fd, events, data)
        elif not wanted and registered:
            self.sel.unregister(fd)

    # ---- from the host ----

    def read_host(self):
        try:
            data = os.read(0, READ_SIZE)
        except BlockingIOError:
            return
        if not data:
            self.stopping = True        # the host is gone
            return
        self.inbuf += data
        at = 0
        while len(self.inbuf) - at >= HEAD.size:
            kind, xid, size = HEAD.unpack_from(self.inbuf, at)
            if len(self.inbuf) - at < HEAD.size + size:
                break
            payload = bytes(self.inbuf[at + HEAD.size:at + HEAD.size + size])
            at += HEAD.size + size
            self.handle(kind, xid, payload)
        del self.inbuf[:at]

    def handle(self, kind, xid, payload):
        if kind == START:
            self.start(xid, json.loads(payload.decode('utf-8')))
            return
        ex = self.execs.get(xid)
        if kind == STDIN:
            if ex is not None and ex.stdin_fd is not None:
                ex.pending.append(payload)
                self.feed(ex)
            elif ex is not None:
                self.send(STDIN_ACK, xid, struct.pack('>I', len(payload)))   # nobody reads it
        elif kind == STDIN_EOF and ex is not None:
            ex.stdin_eof = True
            self.feed(ex)
        elif kind == SIGNAL and ex is not None:
            sig = signal.SIGKILL if payload == b'KILL' else signal.SIGTERM
            if sig == signal.SIGKILL and ex.kill_since is None:
                ex.kill_since = ex.killed_at = time.monotonic()
            self.kill(ex, sig)

    # ---- commands ----

    def start(self, xid, req):
        argv, cwd = req['argv'], req.get('cwd') or '/'
        try:
            uid, gid, groups, home = resolve_user(req.get('user') or 'root')
        except LookupError as error:
            return self.send(START_FAILED, xid, json.dumps({'reason': 'other', 'message': str(error)}).encode())
        env = dict(self.env)
        env.update(req.get('env') or {})
        env.setdefault('HOME', home)
        detached = bool(req.get('detached'))
        oom_before = self.oom.read()
        ours = []                       # our ends, kept if the command starts
        theirs = []                     # the command's ends, closed here once it has them
        try:
            in_r = in_w = None
            if req.get('hasStdin'):
                in_r, in_w = os.pipe()
                theirs.append(in_r)
                ours.append(in_w)
            out_r, out_w = os.pipe()
            ours.append(out_r)
            theirs.append(out_w)
            err_r, err_w = os.pipe()
            ours.append(err_r)
            theirs.append(err_w)
            pid, proc, channel, said = None, None, None, b''
            spare = self.spares.take()
            if spare is not None:
                try:
                    channel, said = hand_over(spare, argv, cwd, env, uid, gid, groups, in_r, out_w, err_w, detached)
                    pid = spare[0]
                except OSError:         # that guard was gone before it took the command (killed)
                    pass
            if pid is None:
                pid = spawn_guarded(argv, cwd, env, uid, gid, groups, in_r, out_w, err_w, detached)
        except (Failure, OSError) as error:
            for fd in ours:
                os.close(fd)
            reason = error.reason if isinstance(error, Failure) else 'other'
            return self.send(START_FAILED, xid, json.dumps({'reason': reason, 'message': str(error)}).encode())
        finally:
            for fd in theirs:
                os.close(fd)
        if in_w is not None:
            os.set_blocking(in_w, False)
        ex = Exec(xid, pid, proc, in_w, {out_r: STDOUT, err_r: STDERR}, uid, gid, req.get('marker'), detached, oom_before, channel)
        self.execs[xid] = ex
        self.send(STARTED, xid, json.dumps({'pid': pid}).encode())
        if channel is not None:
            self.watch(channel.fileno(), selectors.EVENT_READ, ex, True)
            ex.said = said
            self.read_channel(ex)
        for fd in ex.outputs:
            self.watch(fd, selectors.EVENT_READ, ex, not self.paused)

    def feed(self, ex):
        """Writes queued stdin to the command as far as its pipe takes it, and acks what left."""
        taken = 0
        while ex.pending and ex.stdin_fd is not None:
            chunk = ex.pending[0]
            try:
                n = os.write(ex.stdin_fd, chunk)
            except BlockingIOError:
                break
            except OSError:             # the command closed its stdin: drop the rest
                taken += sum(len(c) for c in ex.pending)
                ex.pending.clear()
                self.close_stdin(ex)
                break
            taken += n
            if n < len(chunk):
                ex.pending[0] = memoryview(chunk)[n:]
            else:
                ex.pending.popleft()
        if taken:
            self.send(STDIN_ACK, ex.xid, struct.pack('>I', taken))
        if ex.stdin_fd is not None:
            self.watch(ex.stdin_fd, selectors.EVENT_WRITE, ex, bool(ex.pending))
            if ex.stdin_eof and not ex.pending:
                self.close_stdin(ex)

    def close_stdin(self, ex):
        if ex.stdin_fd is not None:
            self.watch(ex.stdin_fd, 0, None, False)
            os.close(ex.stdin_fd)
            ex.stdin_fd = None

    def read_output(self, ex, fd):
        data = os.read(fd, READ_SIZE)
        if data:
            self.send(ex.outputs[fd], ex.xid, data)
        else:
            self.close_output(ex, fd)
            self.finish_if_done(ex)

    def read_channel(self, ex):
        """What a spare guard says once its command is done: the command's wait status."""
        try:
            data = ex.channel.recv(4096)
        except BlockingIOError:
            data = None
        except OSError:
            data = b''
        ex.said += data or b''
        lines = ex.said.split(b'\n')
        ex.said = lines.pop()
        for line in lines:
            try:
                said = json.loads(line.decode('utf-8'))
                status = said.get('status')
            except (ValueError, AttributeError):
                continue
            if isinstance(status, int) and ex.status is None:
                ex.status = status
                ex.again = said.get('again') is True
        if data == b'':                 # the guard is gone
            self.watch(ex.channel.fileno(), 0, None, False)
            ex.channel.close()
            ex.channel = None
            if ex.status is None:
                ex.status = signal.SIGKILL      # killed before it could say: as a wait status, killed by SIGKILL
        self.finish_if_done(ex)

    def close_output(self, ex, fd):
        self.watch(fd, 0, None, False)
        os.close(fd)
        del ex.outputs[fd]

    def reap(self):
        self.spares.reap()
        for ex in list(self.execs.values()):
            if ex.status is None and ex.poll() is not None:
                self.finish_if_done(ex)

    def finish_if_done(self, ex, abandoned=False):
        # Like docker exec, the result comes once the program has exited AND its output is closed
        # (a background child may still hold it).
        if ex.status is None or (ex.outputs and not abandoned):
            return
        for fd in list(ex.outputs):
            self.close_output(ex, fd)
        ex.pending.clear()
        self.close_stdin(ex)
        del self.execs[ex.xid]
        if ex.channel is not None:
            self.watch(ex.channel.fileno(), 0, None, False)
            if ex.again and not ex.said:
                self.spares.give_back((ex.pid, ex.channel))
            else:
                ex.channel.close()
            ex.channel = None
        if os.WIFSIGNALED(ex.status):
            info = {'signal': os.WTERMSIG(ex.status)}
        else:
            info = {'code': os.WEXITSTATUS(ex.status)}
        if abandoned:
            info['abandoned'] = True
        oom_after = self.oom.read() if ex.oom_before is not None else None
        if oom_after is not None and oom_after > ex.oom_before:
            info['oomKills'] = oom_after - ex.oom_before
        self.send(EXIT, ex.xid, json.dumps(info).encode())

    # ---- killing ----

    def kill(self, ex, sig):
        for pid in self.tree(ex):
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def tree(self, ex):
        """The command's process group and session, processes carrying its marker, and all their descendants."""
        procs = scan_processes()
        live = ex.status is None        # once reaped, the pid may belong to someone else
        found = set(p for p, (_, pgrp, sid) in procs.items()
                    if (live and p == ex.pid) or pgrp == ex.pid or sid == ex.pid)
        found |= self.marked(ex, procs)
        children = {}
        for p, (ppid, _, _) in procs.items():
            children.setdefault(ppid, []).append(p)
        todo = list(found)
        while todo:                     # descendants by ppid: catches children that called setsid
            for c in children.get(todo.pop(), ()):
                if c not in found:
                    found.add(c)
                    todo.append(c)
        found.discard(os.getpid())
        found.discard(1)
        found.discard(ex.pid)           # the guard: it ends by itself once its tree is gone
        # Parents before their children: a shell whose children die first would go on (its
        # wait returns 0) and exit 0 before its own signal arrives.
        order, todo, seen = [], [ex.pid], set()
        while todo:
            for c in children.get(todo.pop(0), ()):
                if c in found and c not in seen:
                    seen.add(c)
                    order.append(c)
                    todo.append(c)
        return order + [p for p in found if p not in seen]

    def marked(self, ex, procs):
        """Processes whose environment holds the exec's marker: found even after they left the tree."""
        if not ex.marker:
            return set()
        needle, found, denied = ex.marker.encode(), set(), []

        def look(pids, miss):
            for p in pids:
                try:
                    with open('/proc/%d/environ' % p, 'rb') as f:
                        if needle in f.read().split(b'\0'):
                            found.add(p)
                except PermissionError:
                    miss.append(p)
                except OSError:
                    pass

        look(procs, denied)             # as root: root's processes (a command may have used sudo)
        if denied and ex.uid != 0:
            # Without CAP_SYS_PTRACE, root may not read other users' environments: look again as
            # the command's user (the saved uid stays 0, so we can come back).
            try:
                os.setegid(ex.gid)
                os.seteuid(ex.uid)
                look(denied, [])
            finally:
                os.seteuid(0)
                os.setegid(0)
        return found

    def kill_rounds(self):
        now = time.monotonic()
        for ex in list(self.execs.values()):
            if ex.kill_since is None or now - ex.killed_at < KILL_ROUND:
                continue
            ex.killed_at = now
            self.kill(ex, signal.SIGKILL)   # again: a dying tree may still fork
            if now - ex.kill_since > KILL_GIVE_UP:
                self.finish_if_done(ex, abandoned=True)

    # ---- main loop ----

    def run(self):
        self.send(READY, 0, json.dumps({'protocol': ${EXEC_AGENT_PROTOCOL}, 'pid': os.getpid()}).encode())
        self.flush()
        self.spares.start()
        while not self.stopping:
            killing = any(ex.kill_since is not None for ex in self.execs.values())
            for key, _ in self.sel.select(KILL_ROUND if killing else None):
                data = key.data
                if data == 'host':
                    self.read_host()
                elif data == 'wake':
                    drain(self.wake_r)
                    self.reap()
                elif data == 'out':
                    pass                # flushed below
                elif data == 'spares':
                    self.spares.receive()
                elif key.fd in data.outputs:
                    self.read_output(data, key.fd)
                elif key.fd == data.stdin_fd:
                    self.feed(data)
                elif data.channel is not None and key.fd == data.channel.fileno():
                    self.read_channel(data)
                if self.stopping:
                    break
            if killing:
                self.kill_rounds()
            self.flush()

    def shutdown(self):
        """The host is gone (or we were told to stop): nothing we started may outlive us."""
        running = [ex for ex in self.execs.values() if not ex.detached]
        for ex in running:
            self.kill(ex, signal.SIGTERM)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and any(ex.status is None for ex in running):
            time.sleep(0.02)
            for ex in running:
                if ex.channel is not None:
                    self.read_channel(ex)
                else:
                    ex.poll()
        for ex in running:
            self.kill(ex, signal.SIGKILL)


def drain(fd):
    while True:
        try:
            if not os.read(fd, 512):
                return
        except BlockingIOError:
            return


if sys.argv[1:2] == [SPARE_MAKER]:
    spare_maker_main()                          # never returns
OWN_SOURCE = s                                  # our program, as EXEC_AGENT_BOOT read it
agent = Agent()
gc.freeze()                                     # guards forked here (no spare at hand) share these pages untouched
try:
    agent.run()
except BrokenPipeError:
    pass                                # the host went away mid-write
except BaseException:
    import traceback
    traceback.print_exc()               # reaches the host on stderr
try:
    agent.shutdown()
finally:
    os._exit(0)
`;
