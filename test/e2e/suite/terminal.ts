import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

/** An Open Terminal terminal, read from its own pseudoterminal: what it shows, and a wait for a pattern. */
export interface OpenedTerminal {
  terminal: vscode.Terminal;
  pty: vscode.Pseudoterminal;
  shows(pattern: RegExp, ms?: number): Promise<void>;
  /** Resizes as the panel would, then checks that the shell's TTY has a size the terminal was given since. */
  resizeTo(columns: number, rows: number): Promise<void>;
  ended: Promise<vscode.TerminalExitStatus | undefined>;
}

/** Runs Open Terminal for `name` and follows what its pseudoterminal writes. */
export async function openSandboxTerminal(name: string): Promise<OpenedTerminal> {
  const terminal = await vscode.commands.executeCommand<vscode.Terminal>('sandboxes.openTerminal', name);
  assert.ok(terminal, 'Open Terminal made no terminal');
  const pty = (terminal.creationOptions as vscode.ExtensionTerminalOptions).pty;
  assert.ok(pty?.onDidWrite, 'the terminal is not ours');
  let output = '';
  pty.onDidWrite((data) => (output += data));
  // VS Code resizes the terminal as its panel settles, maybe just after a test did: every size
  // given counts, in order.
  const given: string[] = [];
  const setDimensions = pty.setDimensions!.bind(pty);
  pty.setDimensions = (dimensions) => {
    given.push(`${dimensions.rows} ${dimensions.columns}`);
    setDimensions(dimensions);
  };
  const ended = new Promise<vscode.TerminalExitStatus | undefined>((resolve) => {
    const subscription = vscode.window.onDidCloseTerminal((closed) => {
      if (closed !== terminal) return;
      subscription.dispose();
      resolve(closed.exitStatus);
    });
  });
  const shows = async (pattern: RegExp, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (!pattern.test(output) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match(output, pattern, `the terminal shows ${JSON.stringify(output.slice(-800))}`);
  };
  const resizeTo = async (columns: number, rows: number) => {
    terminal.sendText('echo "before=$(stty size)"');
    await shows(/before=(\d+ \d+)\r\n/);
    const before = /before=(\d+ \d+)\r\n/.exec(output)![1]!;
    const since = given.length;
    pty.setDimensions!({ columns, rows });
    terminal.sendText('echo "after=$(stty size)"');
    await shows(/after=(\d+ \d+)\r\n/);
    const after = /after=(\d+ \d+)\r\n/.exec(output)![1]!;
    const sizes = given.slice(since);
    assert.ok(after !== before && sizes.includes(after), `the TTY is ${after} after a resize from ${before}; the terminal was given ${sizes.join(', ')}`);
  };
  return { terminal, pty, ended, shows, resizeTo };
}
