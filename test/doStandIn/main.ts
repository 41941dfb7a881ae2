import { parseArgs } from 'node:util';
import { DigitalOceanStandIn } from './server';

// Runs the stand-in on its own, for trying the product against it by hand (e.g. in code-server):
//   node out/test/doStandIn/main.js --port 4020 --token dop_v1_local [--boot-delay-ms 3000] [--action-delay-ms 3000]
// Put `prism proxy <spec> http://127.0.0.1:4020 --errors` in front of it to keep the contract checked.
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '4020' },
      token: { type: 'string', multiple: true },
      'boot-delay-ms': { type: 'string', default: '3000' },
      'action-delay-ms': { type: 'string', default: '3000' },
    },
  });
  const tokens = values.token ?? [];
  if (tokens.length === 0) throw new Error('Give the token the stand-in should accept with --token.');
  const standIn = new DigitalOceanStandIn({ tokens, bootDelayMs: Number(values['boot-delay-ms']), actionDelayMs: Number(values['action-delay-ms']) });
  const url = await standIn.listen(Number(values.port));
  process.stdout.write(`DigitalOcean stand-in listening on ${url}\n`);
  const stop = () => void standIn.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
