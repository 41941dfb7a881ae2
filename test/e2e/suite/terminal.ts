import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

/** An Open Terminal terminal, read from its own pseudoterminal: what it shows, and a wait for a pattern. */
export interface OpenedTerminal {
  terminal: vscode.Terminal;
  pty: vscode.Pseudoterminal;
  shows(pattern: RegExp, ms?: number): Promise<void>;
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
  const ended = new Promise<vscode.TerminalExitStatus | undefined>((resolve) => {
    const subscription = vscode.window.onDidCloseTerminal((closed) => {
      if (closed !== terminal) return;
      subscription.dispose();
      resolve(closed.exitStatus);
    });
  });
  return {
    terminal,
    pty,
    ended,
    shows: async (pattern, ms = 15_000) => {
      const deadline = Date.now() + ms;
      while (!pattern.test(output) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.match(output, pattern, `the terminal shows ${JSON.stringify(output.slice(-800))}`);
    },
  };
}
