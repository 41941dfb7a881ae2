import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import type { SandboxRecord } from '../core/model';
import type { TtySession } from '../core/exec/terminal';
import type { Cockpit } from './cockpit';

/**
 * A VS Code terminal whose far end is an interactive login shell inside the sandbox, with a
 * real TTY that follows the panel's size. The core picks the channel by provider: the Docker
 * engine's exec for local sandboxes, a PTY over SSH for sandboxes on SSH hosts.
 */
export class SandboxPseudoterminal implements vscode.Pseudoterminal {
  private readonly written = new vscode.EventEmitter<string>();
  private readonly closed = new vscode.EventEmitter<number | void>();
  readonly onDidWrite = this.written.event;
  readonly onDidClose = this.closed.event;
  private session?: TtySession;
  private pendingSize?: vscode.TerminalDimensions;
  /** Keys typed (or text sent) before the shell was reached, delivered once it is. */
  private pendingInput: string[] = [];
  private disposed = false;

  constructor(
    private readonly cockpit: Cockpit,
    private readonly record: SandboxRecord,
  ) {}

  open(initialDimensions: vscode.TerminalDimensions | undefined): void {
    void this.connect(initialDimensions);
  }

  private async connect(size: vscode.TerminalDimensions | undefined): Promise<void> {
    const { record } = this;
    try {
      const session = await this.cockpit.controller.openTerminal(record.id, {
        size: size ? { columns: size.columns, rows: size.rows } : undefined,
      });
      if (this.disposed) {
        session.close();
        return;
      }
      this.session = session;
      const decoder = new TextDecoder();
      session.onData((data) => this.written.fire(decoder.decode(data, { stream: true })));
      if (this.pendingSize) void session.resize({ columns: this.pendingSize.columns, rows: this.pendingSize.rows });
      for (const data of this.pendingInput.splice(0)) session.write(data);
      this.cockpit.log.info(`Terminal opened in ${record.name}`);
      const code = await session.exited;
      this.cockpit.log.info(`Terminal in ${record.name} ended${code === null ? '' : ` with exit code ${code}`}`);
      if (!this.disposed) this.closed.fire(code ?? undefined);
    } catch (error) {
      const message = describeError(error);
      this.cockpit.log.error(`Terminal in ${record.name}: ${message}`);
      this.written.fire(`\r\n\x1b[31m${message}\x1b[0m\r\n`);
      this.closed.fire(1);
    }
  }

  handleInput(data: string): void {
    if (this.session) this.session.write(data);
    else if (!this.disposed) this.pendingInput.push(data);
  }

  setDimensions(dimensions: vscode.TerminalDimensions): void {
    this.pendingSize = dimensions;
    void this.session?.resize({ columns: dimensions.columns, rows: dimensions.rows });
  }

  close(): void {
    this.disposed = true;
    this.session?.close();
    this.written.dispose();
    this.closed.dispose();
  }
}
