import { parseArgs } from 'node:util';
import { uniqueName } from '../integration/helpers';
import { DROPLET_TEST_LABEL } from './dropletContainer';
import { DropletMachines } from './dropletMachines';
import { DigitalOceanStandIn } from './server';

// Runs the stand-in on its own, for trying the product against it by hand (e.g. in code-server):
//   node out/test/doStandIn/main.js --port 4020 --token dop_v1_local [--boot-delay-ms 3000] [--action-delay-ms 3000] [--boot-droplets]
// Put `prism proxy <spec> http://127.0.0.1:4020 --errors` in front of it to keep the contract checked.
// With --boot-droplets every droplet is a container answering SSH on 127.0.1.N:22 (see dropletMachines.ts);
// they and their snapshot images are removed when the stand-in stops (Ctrl-C).
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '4020' },
      token: { type: 'string', multiple: true },
      'boot-delay-ms': { type: 'string', default: '3000' },
      'action-delay-ms': { type: 'string', default: '3000' },
      'boot-droplets': { type: 'boolean', default: false },
    },
  });
  const tokens = values.token ?? [];
  if (tokens.length === 0) throw new Error('Give the token the stand-in should accept with --token.');
  const machines = values['boot-droplets'] ? await DropletMachines.start(uniqueName('do-standin-main')) : undefined;
  const standIn = new DigitalOceanStandIn({
    tokens,
    bootDelayMs: Number(values['boot-delay-ms']),
    actionDelayMs: Number(values['action-delay-ms']),
    ...machines?.hooks,
  });
  const url = await standIn.listen(Number(values.port));
  process.stdout.write(`DigitalOcean stand-in listening on ${url}\n`);
  if (machines)
    process.stdout.write(`Droplets boot from ${machines.image}; containers and images carry the label ${DROPLET_TEST_LABEL}=${machines.runLabel}\n`);
  const stop = () =>
    void Promise.allSettled([standIn.close(), machines?.close()]).then((outcomes) => {
      const failed = outcomes.find((outcome) => outcome.status === 'rejected');
      if (failed) process.stderr.write(`${String(failed.reason)}\n`);
      process.exit(failed ? 1 : 0);
    });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
