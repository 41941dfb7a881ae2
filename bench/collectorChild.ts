/**
 * The collector alone in a process of its own, for the collector-cost benchmark: its CPU and
 * memory are then this process's. `node collectorChild.js STATE_DIR INTERVAL_MS`; SIGTERM stops it.
 */
import { Collector } from '../src/core/collector/collector';
import { readCollectorConfig } from '../src/core/collector/config';
import { collectorParts } from '../src/core/collector/parts';
import { SandboxController } from '../src/core/controller';
import { StateStore } from '../src/core/store/stateStore';

const [stateDir, interval] = process.argv.slice(2);
if (!stateDir || !interval) throw new Error('Usage: collectorChild.js STATE_DIR INTERVAL_MS');
const controller = new SandboxController({ store: new StateStore(stateDir) });
const config = { ...readCollectorConfig(stateDir), sampleIntervalMs: Number(interval) };
const context = { stateRoot: stateDir, controller, config, log: (line: string) => console.error(line) };
const collector = new Collector(context, collectorParts(context));
collector.start();
process.send?.('started');
process.on('SIGTERM', () => {
  void collector.stop().finally(() => {
    controller.dispose();
    process.exit(0);
  });
});
