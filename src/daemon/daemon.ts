import { hostCollector } from '../app/collectorRunner';
import { startExecSocketServer, type ExecSocketServer } from '../app/execSocketServer';
import { SandboxController } from '../core/controller';
import { CostEnforcer, DEFAULT_ENFORCE_INTERVAL_MS } from '../core/cost/enforcer';
import { describeError } from '../core/errors';
import { StateStore } from '../core/store/stateStore';
import { acquireDaemonLock } from '../core/tasks/daemonLock';
import { Scheduler } from '../core/tasks/scheduler';

export interface DaemonOptions {
  stateRoot: string;
  /** Each line of the daemon's log (stdout when run in the foreground, daemon.log in the background). */
  log: (line: string) => void;
  /** Ends the daemon: its scheduler stops placing, commands in sandboxes go on. */
  signal: AbortSignal;
  tickMs?: number;
  pollMs?: number;
  /** How often cloud sandboxes' time-to-live, the budget alerts and gone machines are checked; 60 s by default. */
  costCheckMs?: number;
}

/** Sets the cost check interval of a daemon started in the background (tests use a short one). */
export const COST_CHECK_ENV = 'AGENT_SANDBOXES_COST_CHECK_MS';

function costCheckMsOf(env: NodeJS.ProcessEnv): number {
  const value = Number(env[COST_CHECK_ENV]);
  return Number.isFinite(value) && value >= 100 ? value : DEFAULT_ENFORCE_INTERVAL_MS;
}

/**
 * The product's long-lived process, one per state dir: it hosts the scheduler and cost enforcement
 * and the collector and the exec socket of `sandbox exec`. Runs until the signal aborts.
 */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const release = acquireDaemonLock(options.stateRoot);
  const log = (message: string) => options.log(`${new Date().toISOString()} ${message}`);
  const controller = new SandboxController({ store: new StateStore(options.stateRoot) });
  const scheduler = new Scheduler({ controller, stateRoot: options.stateRoot, log, tickMs: options.tickMs, pollMs: options.pollMs });
  const enforcer = new CostEnforcer({ controller, stateRoot: options.stateRoot, log, intervalMs: options.costCheckMs ?? costCheckMsOf(process.env) });
  let execSocket: ExecSocketServer | undefined;
  let collector: { stop(): Promise<void> } | undefined;
  try {
    log(`Daemon started (pid ${process.pid}) for ${options.stateRoot}.`);
    await scheduler.start();
    enforcer.start();
    // `sandbox exec` hands its calls here when this process runs: the command takes the exec agent.
    execSocket = await startExecSocketServer({ stateRoot: options.stateRoot, controller, log }).catch((error: unknown) => {
      log(`No exec socket: ${describeError(error)}`);
      return undefined;
    });
    // The store's one writer: the journals, samples and retention of every sandbox of this state dir.
    collector = hostCollector({ stateRoot: options.stateRoot, controller, log });
    await new Promise<void>((resolve) => {
      if (options.signal.aborted) resolve();
      options.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    log('Daemon stopping: placed commands go on in their sandboxes and are picked up by the next daemon.');
  } catch (error) {
    log(`Daemon failed: ${describeError(error)}`);
    throw error;
  } finally {
    await collector?.stop().catch(() => undefined);
    await execSocket?.close().catch(() => undefined);
    await enforcer.stop().catch(() => undefined);
    await scheduler.stop().catch(() => undefined);
    controller.dispose();
    release();
  }
}
