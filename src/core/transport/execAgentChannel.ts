import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type Dockerode from 'dockerode';
import { SandboxError } from '../errors';
import { DEFAULT_MAX_OUTPUT_BYTES, type ExecRequest, type ExecResult } from '../model';
import { EXEC_MARKER_ENV, commandArgv, type DockerExecDefaults } from './dockerExec';
import { ChannelGoneError, abandonedError, closedError, lostError } from './execAgentErrors';
import {
  AgentFrame,
  DockerStreamDemux,
  FrameReader,
  encodeFrame,
  type AgentFrameType,
  type ExitPayload,
  type StartFailedPayload,
  type StartPayload,
} from './execAgentProtocol';
import { EXEC_AGENT_BOOT, EXEC_AGENT_NAME, EXEC_AGENT_PROTOCOL, EXEC_AGENT_SCRIPT } from './execAgentScript';
import { StdinPump } from './execAgentStdin';
import { OOM_KILLS, OutputCollector, STREAM_CLOSE_GRACE_MS, TERMINATION_GRACE_MS, finishedResult, startFailureError, type ExecResultWithOom } from './output';

/** How long the agent may take to say READY after its exec started. */
const READY_TIMEOUT_MS = 20_000;
/** How long the agent may take to say whether a command started; past it, the agent is taken for hung. */
const START_ANSWER_TIMEOUT_MS = 15_000;
/** Agent stderr kept for diagnostics. */
const DIAGNOSTIC_BYTES = 4096;
const MAX_EXEC_ID = 0xffff_ffff;
const AGENT_SOURCE = Buffer.from(EXEC_AGENT_SCRIPT, 'utf8');

/** How opening a channel went: `no-agent` means this container cannot run the agent at all. */
export type OpenOutcome = 'open' | 'no-agent' | 'failed';

/** What the channel needs from one running command. */
interface ExecHandler {
  frame(type: number, payload: Buffer): void;
  /** The channel died: fail with this error. */
  lost(error: SandboxError): void;
}

/**
 * One persistent exec agent in one container: a single `docker exec` of a small Python
 * program that spawns every command asked of it. Commands share the channel concurrently; it
 * opens on first use, keeps the Node process alive only while a command runs, and when the
 * agent dies (the container stopped, someone killed it) the commands in flight fail with a
 * clear error and the channel is done: make a new one.
 */
export class ExecAgentChannel {
  private socket?: Socket;
  private opening?: Promise<OpenOutcome>;
  private ready = false;
  private dead = false;
  private readonly execs = new Map<number, ExecHandler>();
  private nextId = 1;
  private needDrain = false;
  private drainWaiters: (() => void)[] = [];
  private diagnostics = '';
  private onDeath?: () => void;

  constructor(
    private readonly docker: Dockerode,
    readonly containerId: string,
    onDeath?: () => void,
  ) {
    this.onDeath = onDeath;
  }

  /** False once the agent is gone or the channel was closed. */
  get alive(): boolean {
    return !this.dead;
  }

  /** Starts the agent (once); resolves when it answers, or with why it could not. */
  open(): Promise<OpenOutcome> {
    this.opening ??= this.connect();
    return this.opening;
  }

  private async connect(): Promise<OpenOutcome> {
    let exec: Dockerode.Exec;
    let socket: Socket;
    try {
      exec = await this.docker.getContainer(this.containerId).exec({
        Cmd: ['python3', '-I', '-u', '-c', EXEC_AGENT_BOOT, EXEC_AGENT_NAME, String(AGENT_SOURCE.length)],
        User: 'root',
        WorkingDir: '/',
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      });
      socket = (await exec.start({ hijack: true, stdin: true })) as Socket;
    } catch {
      // Not running, gone, engine trouble: the plain path will say what it is.
      this.die();
      return 'failed';
    }
    if (this.dead) {
      socket.destroy(); // closed while opening
      return 'failed';
    }
    this.socket = socket;
    socket.setNoDelay?.(true);
    socket.write(AGENT_SOURCE); // read by EXEC_AGENT_BOOT before anything else

    return new Promise<OpenOutcome>((resolve) => {
      let early = ''; // output before READY: the engine's or Python's complaint
      const reader = new FrameReader((type, id, payload) => {
        if (this.ready) return this.dispatch(type, id, payload);
        if (type === AgentFrame.Ready && readyProtocol(payload) === EXEC_AGENT_PROTOCOL) {
          this.ready = true;
          clearTimeout(timer);
          this.updateRef();
          resolve('open');
        }
      });
      const demux = new DockerStreamDemux(
        (chunk) => {
          if (!this.ready && early.length < DIAGNOSTIC_BYTES) early += chunk.toString('utf8');
          reader.push(chunk);
        },
        (chunk) => this.noteDiagnostic(chunk),
      );
      let slow = false;
      const timer = setTimeout(() => {
        slow = true;
        this.die();
      }, READY_TIMEOUT_MS);
      socket.on('data', (chunk: Buffer) => {
        try {
          demux.push(chunk);
        } catch {
          this.die(); // a frame we cannot read: nothing after it can be trusted
        }
      });
      socket.on('drain', () => this.drained());
      socket.on('error', () => this.die());
      socket.on('end', () => this.die());
      socket.on('close', () => this.die());
      this.onDeath = chain(this.onDeath, () => {
        clearTimeout(timer);
        if (this.ready) return;
        // An agent that cannot start in this long will not do better next time: use the plain path.
        if (slow) return resolve('no-agent');
        // It never answered: tell "no usable python3 here" apart from a passing failure.
        exec.inspect().then(
          (info) => resolve(lacksAgent(info.ExitCode, early + this.diagnostics) ? 'no-agent' : 'failed'),
          () => resolve('failed'),
        );
      });
    });
  }

  /** Ends the agent (it stops what it still runs) and fails the commands in flight. */
  close(): void {
    if (this.dead) return;
    this.die(closedError(), true);
    const socket = this.socket;
    if (socket && !socket.destroyed) {
      // A half-close: the agent reads EOF, kills its commands and exits, then the engine hangs up.
      socket.end();
      setTimeout(() => socket.destroy(), 2000).unref();
    }
  }

  private die(error?: SandboxError, graceful = false): void {
    if (this.dead) return;
    const said = this.diagnostics.trim().split('\n').pop();
    error ??= lostError(said ? `its exec agent said: ${said}` : undefined);
    this.dead = true;
    if (!graceful) this.socket?.destroy();
    this.socket?.unref();
    for (const handler of [...this.execs.values()]) handler.lost(error);
    this.execs.clear();
    for (const waiter of this.drainWaiters.splice(0)) waiter();
    const onDeath = this.onDeath;
    this.onDeath = undefined;
    onDeath?.();
  }

  private noteDiagnostic(chunk: Buffer): void {
    this.diagnostics = (this.diagnostics + chunk.toString('utf8')).slice(-DIAGNOSTIC_BYTES);
  }

  private dispatch(type: number, id: number, payload: Buffer): void {
    this.execs.get(id)?.frame(type, payload);
  }

  /** Keeps the process alive while a command runs, and only then. */
  private updateRef(): void {
    if (!this.socket || this.dead) return;
    if (this.execs.size > 0 || !this.ready) this.socket.ref();
    else this.socket.unref();
  }

  /** Writes a frame; false when the socket wants a 'drain' before more. */
  send(type: AgentFrameType, id: number, payload?: Buffer | string): boolean {
    if (this.dead || !this.socket) return false;
    const ok = this.socket.write(encodeFrame(type, id, payload));
    if (!ok) this.needDrain = true;
    return ok;
  }

  get congested(): boolean {
    return this.needDrain;
  }

  /** Calls `fn` once the socket took its buffered data (or the channel died). */
  whenDrained(fn: () => void): void {
    if (!this.needDrain || this.dead) fn();
    else this.drainWaiters.push(fn);
  }

  private drained(): void {
    this.needDrain = false;
    // A waiter that fills the socket again finds it congested and queues itself anew.
    for (const waiter of this.drainWaiters.splice(0)) waiter();
  }

  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= MAX_EXEC_ID ? 1 : id + 1;
      if (!this.execs.has(id)) return id;
    }
  }

  /**
   * Runs one command through the agent, with the semantics of dockerExec: streaming callbacks,
   * output caps, timeout and abort (SIGTERM, a grace second, SIGKILL to the whole tree), a
   * program that cannot start is an error, a non-zero exit is a result.
   */
  async run(request: ExecRequest, defaults: DockerExecDefaults): Promise<ExecResult> {
    const argv = commandArgv(request.command);
    const started = performance.now();
    if (this.dead || !this.ready) throw new ChannelGoneError();
    if (request.signal?.aborted) throw new SandboxError('cancelled', 'The command was cancelled before it started.');
    const markerValue = request.execId ?? randomBytes(8).toString('hex');
    const start: StartPayload = {
      argv,
      cwd: request.cwd ?? defaults.cwd,
      env: { ...request.env, [EXEC_MARKER_ENV]: markerValue },
      user: request.user ?? defaults.user,
      hasStdin: request.stdin !== undefined,
      marker: `${EXEC_MARKER_ENV}=${markerValue}`,
      detached: request.detached || undefined,
    };
    const id = this.allocateId();
    const limit = request.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const stdout = new OutputCollector(limit, request.onStdout);
    const stderr = new OutputCollector(limit, request.onStderr);

    let timedOut = false;
    let cancelled = false;
    let graceTimer: NodeJS.Timeout | undefined;
    let abandonTimer: NodeJS.Timeout | undefined;
    let stdin: StdinPump | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let answerTimer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;

    const outcome = new Promise<ExecResult>((resolve, reject) => {
      const kill = (reason: 'timeout' | 'cancel') => {
        if (timedOut || cancelled) return;
        if (reason === 'timeout') timedOut = true;
        else cancelled = true;
        this.send(AgentFrame.Signal, id, 'TERM');
        graceTimer = setTimeout(() => {
          this.send(AgentFrame.Signal, id, 'KILL');
          // The agent keeps killing and gives up on held output after a few seconds; this is the
          // last word in case it cannot even report that.
          abandonTimer = setTimeout(() => {
            this.execs.delete(id);
            reject(abandonedError());
          }, STREAM_CLOSE_GRACE_MS);
        }, TERMINATION_GRACE_MS);
      };

      this.execs.set(id, {
        lost: reject,
        frame: (type, payload) => {
          if (type === AgentFrame.Started || type === AgentFrame.StartFailed || type === AgentFrame.Exit) clearTimeout(answerTimer);
          switch (type) {
            case AgentFrame.Stdout:
              stdout.push(payload);
              break;
            case AgentFrame.Stderr:
              stderr.push(payload);
              break;
            case AgentFrame.StdinAck:
              stdin?.acknowledge(payload.readUInt32BE(0));
              break;
            case AgentFrame.Started:
              break;
            case AgentFrame.StartFailed: {
              const failed = JSON.parse(payload.toString('utf8')) as StartFailedPayload;
              this.execs.delete(id);
              reject(startFailureError(failed.reason, argv, request.cwd, failed.message));
              break;
            }
            case AgentFrame.Exit: {
              const exit = JSON.parse(payload.toString('utf8')) as ExitPayload;
              this.execs.delete(id);
              if (exit.abandoned) return reject(abandonedError());
              // Reported as the engine does (128 + signal), then read back as dockerExec reads it.
              const code = exit.signal !== undefined ? 128 + exit.signal : (exit.code ?? null);
              const result: ExecResultWithOom = finishedResult(code, { timedOut, cancelled }, started, stdout, stderr);
              if (exit.oomKills) result[OOM_KILLS] = exit.oomKills;
              resolve(result);
              break;
            }
          }
        },
      });
      this.updateRef();
      this.send(AgentFrame.Start, id, JSON.stringify(start));
      // A stopped or wedged agent would otherwise leave every command waiting: give up on it,
      // and the next command gets a new one.
      answerTimer = setTimeout(() => this.die(lostError(`its exec agent did not answer within ${START_ANSWER_TIMEOUT_MS / 1000} s`)), START_ANSWER_TIMEOUT_MS);
      if (request.stdin !== undefined) stdin = new StdinPump(this, id, request.stdin);
      if (request.timeoutMs !== undefined) timeoutTimer = setTimeout(() => kill('timeout'), request.timeoutMs);
      onAbort = () => kill('cancel');
      request.signal?.addEventListener('abort', onAbort, { once: true });
    });

    try {
      return await outcome;
    } finally {
      clearTimeout(timeoutTimer);
      clearTimeout(answerTimer);
      clearTimeout(graceTimer);
      clearTimeout(abandonTimer);
      if (onAbort) request.signal?.removeEventListener('abort', onAbort);
      stdin?.stop();
      this.execs.delete(id);
      this.updateRef();
    }
  }
}

function readyProtocol(payload: Buffer): number | undefined {
  try {
    return (JSON.parse(payload.toString('utf8')) as { protocol?: number }).protocol;
  } catch {
    return undefined;
  }
}

/**
 * Whether an agent that ended before READY cannot run in this container at all: the runtime
 * found no python3 (126/127), or a python3 too old for the script failed on it (1).
 */
function lacksAgent(exitCode: number | null | undefined, output: string): boolean {
  if (exitCode === 126 || exitCode === 127) return true;
  return exitCode === 1 && /SyntaxError|ImportError|ModuleNotFoundError|AttributeError/.test(output);
}

function chain(first: (() => void) | undefined, second: () => void): () => void {
  return () => {
    first?.();
    second();
  };
}
