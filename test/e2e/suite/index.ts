import { appendFileSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/** Settings the runner hands over (the extension host's environment is code-server's). */
export interface SuiteSettings {
  report: string;
  /** Test files of this run, beside this one. */
  files: string[];
  repoRoot: string;
  stateDir: string;
  workspace: string;
  /** What the setting remote.SSH.configFile names in this run: a throwaway file, never ~/.ssh/config. */
  userSshConfig: string;
}

export function suiteSettings(): SuiteSettings {
  const stateDir = process.env.AGENT_SANDBOXES_HOME;
  if (!stateDir) throw new Error('AGENT_SANDBOXES_HOME is not set; run the suite through out/test/e2e/runExtensionTests.js');
  return JSON.parse(readFileSync(path.join(path.dirname(stateDir), 'suite.json'), 'utf8')) as SuiteSettings;
}

/** A line in the report the runner prints (the extension host's own console goes to the browser). */
export function note(line: string): void {
  appendFileSync(suiteSettings().report, `${line}\n`);
}

/** Called by the extension host (extensionTestsPath): runs the suite and writes a report for the runner. */
export async function run(): Promise<void> {
  const { default: Mocha } = await import('mocha');
  const mocha = new Mocha({ ui: 'bdd', timeout: 120000, color: false, reporter: 'spec', forbidOnly: true, forbidPending: true });
  for (const file of suiteSettings().files) mocha.addFile(path.join(__dirname, file));
  const failures = await new Promise<number>((resolve) => {
    const runner = mocha.run(resolve);
    runner.on('suite', (suite) => suite.title && note(`  ${suite.title}`));
    runner.on('pass', (test) => note(`    ✔ ${test.title} (${test.duration ?? 0} ms)`));
    runner.on('fail', (test, error: Error) => note(`    ✘ ${test.title}\n${String(error?.stack ?? error).replace(/^/gm, '        ')}`));
    runner.on('end', () => note(`  ${runner.stats?.passes ?? 0} passing, ${runner.stats?.failures ?? 0} failing (${runner.stats?.duration ?? 0} ms)`));
  });
  if (failures > 0) throw new Error(`${failures} extension-host test(s) failed`);
}
