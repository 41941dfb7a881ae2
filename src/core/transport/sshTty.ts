import type { ClientChannel } from 'ssh2';
import type { SshSession } from '../ssh/session';
import type { TtySession, TtySize } from './dockerTty';

const TERM = 'xterm-256color';

/**
 * Opens `command` (a shell line run by the login shell on the far side) with a pseudo-terminal
 * on an SSH session: the same interface as the Docker engine's TTY, with the size set by the
 * pty request and changed by window-change requests, so full-screen programs and line editing
 * work as in a local terminal. The channel holds one of the session's slots until it closes.
 */
export async function openSshTtySession(session: SshSession, command: string, options: { size?: TtySize } = {}): Promise<TtySession> {
  const size = usable(options.size) ?? { columns: 80, rows: 24 };
  const listeners: ((data: Buffer) => void)[] = [];
  const early: Buffer[] = [];
  let exitCode: number | null = null;
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const deliver = (chunk: Buffer) => {
    if (listeners.length === 0) early.push(chunk);
    for (const listener of listeners) listener(chunk);
  };
  // Attached as the channel opens: a shell's first prompt can come in the same burst.
  const attach = (channel: ClientChannel) => {
    channel.on('data', deliver);
    // With a pty the far side merges stderr into the terminal; anything sent apart is shown too.
    channel.stderr.on('data', deliver);
    channel.on('exit', (code: number | null, signalName?: string) => {
      exitCode = signalName ? null : code;
    });
    channel.on('close', () => onClosed());
    // A write after the far end went away must not become an uncaught error; close tells the rest.
    channel.on('error', () => undefined);
  };
  const { channel, release } = await session.exec(command, undefined, attach, {
    pty: { term: TERM, rows: size.rows, cols: size.columns, height: 0, width: 0 },
  });
  const exited = closed.then(() => {
    release();
    return exitCode;
  });
  let ended = false;
  return {
    write: (data) => {
      if (!ended && channel.writable) channel.write(data);
    },
    resize: async (next) => {
      const checked = usable(next);
      if (checked && !ended) channel.setWindow(checked.rows, checked.columns, 0, 0);
    },
    end: () => {
      ended = true;
      channel.end();
    },
    close: () => {
      ended = true;
      channel.close();
    },
    onData: (listener) => {
      listeners.push(listener);
      for (const chunk of early.splice(0)) listener(chunk);
    },
    exited,
  };
}

function usable(size: TtySize | undefined): TtySize | undefined {
  if (!size || !Number.isInteger(size.columns) || !Number.isInteger(size.rows)) return undefined;
  return size.columns > 0 && size.rows > 0 ? size : undefined;
}
