import { PYTHON_SPAWN_DETACHED } from './pythonDetach';

/**
 * Starts the Jupyter Notebook server of a sandbox (Debian's jupyter-notebook), as its user, on its
 * own 127.0.0.1 only, unless ours runs already. A small Python 3 program run through the ordinary
 * exec channel; its state lives in ~/.sandbox-notebook (0700): the server's config file (0600,
 * holding the token, so the token is on no command line and in no environment), its pid and its
 * log (at WARN level, where the server never prints its URL with the token).
 *
 * argv: python3 -I -c NOTEBOOK_SCRIPT sandbox-notebook; stdin {"token"}: the token of a new
 * server. Prints one line: {"state": "started" | "running", "port", "token"} (the running
 * server's own token), or {"state": "failed", "message"}. The server is double-forked into a
 * session of its own (launched detached), and serves the working folder (the workspace).
 */
export const NOTEBOOK_SCRIPT_NAME = 'sandbox-notebook';

export const NOTEBOOK_SCRIPT = String.raw`
import fcntl, json, os, pwd, socket, sys, time

HOME = pwd.getpwuid(os.getuid()).pw_dir
DIR = os.path.join(HOME, '.sandbox-notebook')
CONFIG = os.path.join(DIR, 'jupyter_notebook_config.json')
PIDFILE = os.path.join(DIR, 'server.pid')
LOG = os.path.join(DIR, 'server.log')


def say(value):
    sys.stdout.write(json.dumps(value) + '\n')
    sys.stdout.flush()


def server_pid():
    try:
        with open(PIDFILE) as f:
            pid = int(f.read().strip())
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = f.read().split(b'\0')
    except (OSError, ValueError):
        return None
    return pid if b'notebook' in argv and ('--config=' + CONFIG).encode() in argv else None


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            raw = f.read()
        return raw[raw.rfind(b')') + 2:][:1] != b'Z'
    except OSError:
        return False


def answers(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=1).close()
        return True
    except OSError:
        return False


def last_log_line():
    try:
        with open(LOG, errors='replace') as f:
            lines = [line.strip() for line in f.read()[-4000:].split('\n') if line.strip()]
        return lines[-1] if lines else 'no log'
    except OSError:
        return 'no log'


${PYTHON_SPAWN_DETACHED}

def main():
    token = json.loads(sys.stdin.read())['token']
    os.makedirs(DIR, 0o700, exist_ok=True)
    if os.path.islink(DIR) or os.lstat(DIR).st_uid != os.getuid():
        say({'state': 'failed', 'message': DIR + ' is not a folder of this user'})
        return
    os.chmod(DIR, 0o700)
    lock = open(os.path.join(DIR, 'lock'), 'a')
    fcntl.flock(lock, fcntl.LOCK_EX)
    if server_pid():
        with open(CONFIG) as f:
            app = json.load(f)['NotebookApp']
        if answers(app['port']):
            say({'state': 'running', 'port': app['port'], 'token': app['token']})
            return
    probe = socket.socket()
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()
    config = {'NotebookApp': {'token': token, 'ip': '127.0.0.1', 'port': port, 'port_retries': 0, 'open_browser': False,
                              'notebook_dir': os.getcwd(), 'log_level': 'WARN'}}
    try:
        os.unlink(CONFIG)
    except FileNotFoundError:
        pass
    fd = os.open(CONFIG, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(config, f)
    pid = spawn_detached([sys.executable, '-m', 'notebook', '--config=' + CONFIG], dict(os.environ))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if answers(port):
            say({'state': 'started', 'port': port, 'token': token})
            return
        if not alive(pid):
            break
        time.sleep(0.1)
    say({'state': 'failed', 'message': last_log_line()[:300]})


main()
`;
