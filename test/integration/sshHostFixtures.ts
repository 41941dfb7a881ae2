import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import type { TtySession } from '../../src/core/exec/terminal';
import { waitFor, type ProgramRun } from './helpers';

/** The JSON a CLI run printed, after asserting it succeeded. */
export function parseJson<T>(result: ProgramRun): T {
  assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}${result.stdout}`);
  return JSON.parse(result.stdout) as T;
}

/** What a terminal has shown so far, and a wait for a pattern to show. */
export function readTerminal(terminal: TtySession): { shows: (pattern: RegExp) => Promise<void> } {
  let output = '';
  terminal.onData((data) => (output += data.toString()));
  return {
    shows: async (pattern) => {
      await waitFor(() => pattern.test(output) || undefined, 15_000, `${pattern} in the terminal`).catch((error: Error) => {
        throw new Error(`${error.message}; it shows ${JSON.stringify(output.slice(-600))}`);
      });
    },
  };
}

/** A free port on 127.0.0.1, for a server we start ourselves. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
