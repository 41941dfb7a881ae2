/**
 * The `sandbox` command's entry (dist/cli.js): small, so an `exec` handed to a long-lived
 * process's socket starts in a few milliseconds; everything else loads the full CLI
 * (dist/cliMain.js) beside it.
 */
import { execOverSocket } from './execClient';

function runFullCli(argv: string[]): void {
  // A runtime require of the sibling bundle, left to Node.js: esbuild keeps it external.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cli = require('./cliMain.js') as typeof import('./main');
  cli.runCommandLine(argv);
}

const argv = process.argv.slice(2);
execOverSocket(argv).then(
  (status) => {
    if (status === undefined) runFullCli(argv);
    else process.exitCode = status;
  },
  () => runFullCli(argv),
);
