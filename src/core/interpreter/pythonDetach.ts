/**
 * A Python function shared by the kernel's and the notebook server's launchers: starts `argv` as
 * a daemon of its own session (double fork, stdin from /dev/null, output to LOG, no inherited
 * descriptors) and returns its pid, read from PIDFILE, which the grandchild's parent writes before
 * the launcher goes on. The script that embeds it defines PIDFILE and LOG.
 */
export const PYTHON_SPAWN_DETACHED = String.raw`
def spawn_detached(argv, env):
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            grandchild = os.fork()
            if grandchild:
                # Written before the launcher goes on, so it never looks for a pid not yet known.
                with open(PIDFILE + '.new', 'w') as f:
                    f.write(str(grandchild))
                os.rename(PIDFILE + '.new', PIDFILE)
                os._exit(0)
            null = os.open('/dev/null', os.O_RDONLY)
            log = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.closerange(3, 65536)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    os.waitpid(child, 0)
    with open(PIDFILE) as f:
        return int(f.read().strip())
`;
