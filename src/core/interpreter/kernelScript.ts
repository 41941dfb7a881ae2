import { PYTHON_SPAWN_DETACHED } from './pythonDetach';

/**
 * The code interpreter's side inside a sandbox: one Python 3 program (Debian's jupyter_client and
 * ipykernel), run as the sandbox's user through the ordinary exec channel. Its state lives in
 * ~/.sandbox-kernel (0700): the kernel's connection file (0600, written by jupyter_client), the
 * kernel's pid and its log.
 *
 * argv: python3 -I -c KERNEL_SCRIPT sandbox-code-interpreter MODE
 *   start  starts the kernel, double-forked into a session of its own (launched detached), unless
 *          one runs; prints {"kernel": "running"} or {"kernel": "started", "lost": BOOL} (lost: an
 *          earlier kernel had died, so its state is gone), or {"kernel": "failed", "message"}.
 *   run    stdin {"code", "timeoutMs"}: runs the code in the kernel and prints one JSON result
 *          (see codeResult.ts), or {"status": "no-kernel"} when none runs, {"status":
 *          "unresponsive"} when it does not answer on its control channel within 10 s. Past timeoutMs, and on
 *          SIGTERM (a cancel), the kernel is interrupted (SIGINT), so its state stays.
 * Sizes are capped here and checked again on the host, which reads all of this as hostile.
 */
export const KERNEL_SCRIPT_NAME = 'sandbox-code-interpreter';

/** Text kept per kind (stdout, stderr, results, traceback), in characters. */
export const TEXT_CAP_CHARS = 64 * 1024;
/** An exception's name and message as kept (its traceback is a text capped as the others). */
export const ERROR_NAME_CHARS = 200;
export const ERROR_VALUE_CHARS = 2000;
/** Images kept per call, and the largest PNG kept (bytes). */
export const MAX_IMAGES = 4;
export const MAX_IMAGE_BYTES = 1024 * 1024;

export const KERNEL_SCRIPT = String.raw`
import fcntl, json, os, pwd, queue, signal, sys, time

TEXT_CAP = ${TEXT_CAP_CHARS}
NAME_CAP = ${ERROR_NAME_CHARS}
VALUE_CAP = ${ERROR_VALUE_CHARS}
MAX_IMAGES = ${MAX_IMAGES}
MAX_IMAGE_B64 = ${Math.ceil(MAX_IMAGE_BYTES / 3) * 4}
HOME = pwd.getpwuid(os.getuid()).pw_dir
DIR = os.path.join(HOME, '.sandbox-kernel')
CONN = os.path.join(DIR, 'kernel.json')
PIDFILE = os.path.join(DIR, 'kernel.pid')
LOG = os.path.join(DIR, 'kernel.log')


def say(value):
    # Not ensure_ascii: it makes a character up to 12 bytes, and the capped texts would outgrow
    # what the host reads. A lone surrogate (from the kernel's JSON) cannot be UTF-8: replaced.
    sys.stdout.buffer.write((json.dumps(value, ensure_ascii=False) + '\n').encode('utf-8', 'replace'))
    sys.stdout.flush()


def own_dir():
    os.makedirs(DIR, 0o700, exist_ok=True)
    st = os.lstat(DIR)
    if not os.path.isdir(DIR) or os.path.islink(DIR) or st.st_uid != os.getuid():
        say({'kernel': 'failed', 'message': DIR + ' is not a folder of this user'})
        sys.exit(0)
    os.chmod(DIR, 0o700)


def kernel_pid():
    try:
        with open(PIDFILE) as f:
            pid = int(f.read().strip())
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = f.read().split(b'\0')
    except (OSError, ValueError):
        return None
    return pid if b'ipykernel_launcher' in argv and CONN.encode() in argv else None


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            raw = f.read()
        return raw[raw.rfind(b')') + 2:][:1] != b'Z'
    except OSError:
        return False


def connect(pid, seconds):
    """A client whose IOPub subscription is live (messages published before it are lost to it):
    asks kernel_info on the control channel until IOPub carries the kernel's status for one of
    the asks. None when the kernel died or did not answer in time."""
    from jupyter_client import BlockingKernelClient
    client = BlockingKernelClient(connection_file=CONN)
    client.load_connection_file()
    client.start_channels()
    asks, deadline, wait = set(), time.monotonic() + seconds, 0.01
    while time.monotonic() < deadline and alive(pid):
        ask = client.session.msg('kernel_info_request')
        asks.add(ask['header']['msg_id'])
        client.control_channel.send(ask)
        # The first answer usually comes before the subscription does: ask again soon, then less often.
        until, wait = time.monotonic() + wait, min(wait * 2, 0.5)
        while time.monotonic() < until:
            try:
                msg = client.get_iopub_msg(timeout=0.01)
            except queue.Empty:
                continue
            if msg.get('parent_header', {}).get('msg_id') in asks:
                return client
    client.stop_channels()
    return None


${PYTHON_SPAWN_DETACHED}

def start():
    own_dir()
    lock = open(os.path.join(DIR, 'lock'), 'a')
    fcntl.flock(lock, fcntl.LOCK_EX)
    if kernel_pid():
        say({'kernel': 'running'})
        return
    lost = os.path.exists(CONN)
    for stale in (CONN, PIDFILE):
        try:
            os.unlink(stale)
        except FileNotFoundError:
            pass
    from jupyter_client.connect import write_connection_file
    write_connection_file(fname=CONN, ip='127.0.0.1', transport='tcp')
    os.chmod(CONN, 0o600)
    env = dict(os.environ)
    env['MPLBACKEND'] = 'module://matplotlib_inline.backend_inline'
    pid = spawn_detached([sys.executable, '-m', 'ipykernel_launcher', '-f', CONN], env)
    client = connect(pid, 60)
    if client is None:
        say({'kernel': 'failed', 'message': 'it did not answer in 60 s' if alive(pid) else 'it exited at start'})
        return
    client.stop_channels()
    say({'kernel': 'started', 'lost': lost})


def capped(text, cap):
    return text[:cap] if isinstance(text, str) else ''


class Capped:
    def __init__(self):
        self.parts, self.size, self.cut = [], 0, False

    def add(self, text):
        if not isinstance(text, str):
            return
        room = TEXT_CAP - self.size
        if len(text) > room:
            text, self.cut = text[:max(room, 0)], True
        self.parts.append(text)
        self.size += len(text)

    def text(self):
        return ''.join(self.parts)


def run():
    request = json.loads(sys.stdin.read())
    code, timeout = request['code'], request['timeoutMs'] / 1000.0
    pid = kernel_pid()
    if not pid:
        say({'status': 'no-kernel'})
        return

    def interrupt(*_):
        try:
            os.kill(pid, signal.SIGINT)
        except OSError:
            pass
        os._exit(143)
    signal.signal(signal.SIGTERM, interrupt)
    # A kernel still busy with earlier code answers on its control channel all the same.
    client = connect(pid, 10)
    if client is None:
        say({'status': 'no-kernel'} if not alive(pid) else {'status': 'unresponsive'})
        return
    msg_id = client.execute(code, store_history=True, allow_stdin=False, stop_on_error=True)
    out, err, results, trace = Capped(), Capped(), Capped(), Capped()
    images, dropped, error, count, status = [], 0, None, None, 'ok'
    deadline = time.monotonic() + timeout
    interrupted = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if interrupted:
                break
            interrupted, status = True, 'timeout'
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass
            deadline = time.monotonic() + 5
            continue
        try:
            msg = client.get_iopub_msg(timeout=min(remaining, 0.5))
        except queue.Empty:
            if kernel_pid() != pid:
                status = 'died'
                break
            continue
        if msg.get('parent_header', {}).get('msg_id') != msg_id:
            continue
        kind, content = msg.get('msg_type'), msg.get('content', {})
        if kind == 'stream':
            (err if content.get('name') == 'stderr' else out).add(content.get('text', ''))
        elif kind == 'execute_input':
            count = content.get('execution_count')
        elif kind in ('execute_result', 'display_data'):
            data = content.get('data', {})
            png = data.get('image/png')
            if isinstance(png, str):
                png = png.replace('\n', '')
                if len(images) < MAX_IMAGES and len(png) <= MAX_IMAGE_B64:
                    images.append(png)
                else:
                    dropped += 1
            elif 'text/plain' in data:
                results.add(data['text/plain'] + '\n')
        elif kind == 'error':
            error = {'name': capped(content.get('ename'), NAME_CAP), 'value': capped(content.get('evalue'), VALUE_CAP)}
            trace.add('\n'.join(content.get('traceback', [])))
            if status == 'ok':
                status = 'error'
        elif kind == 'status' and content.get('execution_state') == 'idle':
            break
    client.stop_channels()
    result = {'status': status, 'stdout': out.text(), 'stderr': err.text(), 'results': results.text(),
              'images': images, 'imagesDropped': dropped,
              'truncated': out.cut or err.cut or results.cut or trace.cut}
    if count is not None:
        result['executionCount'] = count
    if error is not None:
        error['traceback'] = trace.text()
        result['error'] = error
    say(result)


{'start': start, 'run': run}[sys.argv[2]]()
`;
