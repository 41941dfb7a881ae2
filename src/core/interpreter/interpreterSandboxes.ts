import type { ExecRequest, ExecResult, SandboxRecord } from '../model';
import type { PortForward } from '../ssh/forward';

/** What the code interpreter and the notebook need of the controller: the sandboxes, exec and forwards. */
export interface InterpreterSandboxes {
  resolve(ref: string): Promise<SandboxRecord>;
  exec(ref: string, request: ExecRequest): Promise<ExecResult>;
  inspectExec(ref: string, request: ExecRequest): Promise<ExecResult>;
  forward(ref: string, remotePort: number, options?: { localPort?: number }): Promise<PortForward>;
  forwards(sandboxId?: string): PortForward[];
}
