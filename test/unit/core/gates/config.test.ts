import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isSandboxError } from '../../../../src/core/errors';
import { GATES_FILE, MAX_GATES_FILE_BYTES, readGatesConfig, type GatesConfig } from '../../../../src/core/gates/config';
import { PYTEST_REPORT_PATH } from '../../../../src/core/gates/detect';

const folders: string[] = [];
const freshWorkspace = (files: Record<string, string> = {}): string => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'gates-config-'));
  folders.push(root);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), content);
  }
  return root;
};
const withGates = (content: unknown): string => freshWorkspace({ [GATES_FILE]: typeof content === 'string' ? content : JSON.stringify(content, null, 2) });

/** Reading refuses with an invalid-input error whose message is exactly that sentence. */
async function refusedWith(workspace: string, message: string | RegExp): Promise<void> {
  await assert.rejects(readGatesConfig(workspace), (error: unknown) => {
    assert.ok(isSandboxError(error, 'invalid-input'), `an invalid-input SandboxError, got ${String(error)}`);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

const names = (config: GatesConfig): string[] => config.l0.map((command) => command.name);

describe('the gates configuration', function () {
  after(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

  describe('the file', function () {
    it('reads every field, with defaults for what it leaves out', async function () {
      const workspace = withGates({
        $schema: 'https://example.invalid/gates.schema.json',
        l0: [
          { name: 'unit', command: 'npm run test:unit', report: { format: 'junit', path: 'out/junit.xml' } },
          { name: 'go', command: ['go', 'test', '-json', './...'], cwd: 'services/api', timeoutSeconds: 7200, report: { format: 'go-json', path: '-' } },
        ],
        lint: [{ name: 'eslint', command: 'npx eslint -f unix .', timeoutSeconds: 120 }],
        l1: { slowerFactor: 1.5, lintGrowth: false },
        l2: { paths: ['src/auth/**', '*.sql'], maxChangedLines: 400 },
        snapshots: { keep: 3 },
      });
      const config = await readGatesConfig(workspace);
      assert.equal(config.source, 'file');
      assert.equal(config.file, path.join(workspace, '.sandboxes', 'gates.json'));
      assert.equal(config.detectionNote, undefined);
      assert.deepEqual(config.l0, [
        { name: 'unit', command: 'npm run test:unit', timeoutSeconds: 600, report: { format: 'junit', path: 'out/junit.xml' } },
        { name: 'go', command: ['go', 'test', '-json', './...'], cwd: 'services/api', timeoutSeconds: 7200, report: { format: 'go-json', path: '-' } },
      ]);
      assert.deepEqual(config.lint, [{ name: 'eslint', command: 'npx eslint -f unix .', timeoutSeconds: 120 }]);
      assert.deepEqual(config.l1, { regressions: true, slowerFactor: 1.5, slowerMinMs: 200, lintGrowth: false });
      assert.deepEqual(config.l2, { paths: ['src/auth/**', '*.sql'], maxChangedLines: 400, critical: true });
      assert.deepEqual(config.snapshots, { keep: 3, maxAgeDays: 14 });
    });

    it('takes an empty l0 as "no tests", and never detects beside a file', async function () {
      const workspace = freshWorkspace({ [GATES_FILE]: '{"l0": []}', 'go.mod': 'module x\n' });
      const config = await readGatesConfig(workspace);
      assert.equal(config.source, 'file');
      assert.deepEqual(config.l0, []);
      assert.deepEqual(config.lint, []);
    });

    it('names each wrong field exactly, in one sentence saying what to do', async function () {
      const command = { name: 'unit', command: 'make test' };
      const cases: [unknown, string | RegExp][] = [
        [[], 'the content must be an object; correct it in the file.'],
        [{}, 'l0 is missing (a list of test commands, possibly empty); correct it in the file.'],
        [{ l0: [], tests: [] }, 'tests is not a known field (known: $schema, l0, lint, l1, l2, snapshots); remove it or fix its spelling.'],
        [{ l0: {} }, 'l0 must be a list; correct it in the file.'],
        [
          { l0: [command, { ...command, name: 'b', report: { format: 'xunit', path: 'r.xml' } }] },
          'l0[1].report.format must be one of junit, tap, go-json; correct it in the file.',
        ],
        [
          { l0: [{ ...command, comand: 'x' }] },
          'l0[0].comand is not a known field (known: name, command, cwd, timeoutSeconds, report); remove it or fix its spelling.',
        ],
        [
          { l0: [{ ...command, report: { format: 'tap', path: 'r.tap', to: 'x' } }] },
          'l0[0].report.to is not a known field (known: format, path); remove it or fix its spelling.',
        ],
        [{ l0: [{ name: 'a' }] }, 'l0[0].command is missing (a command line, or a list of a program and its arguments); correct it in the file.'],
        [{ l0: [{ name: 'a', command: 7 }] }, 'l0[0].command must be a command line string or a list of a program and its arguments; correct it in the file.'],
        [{ l0: [{ name: 'a', command: [] }] }, 'l0[0].command must start with the program to run; correct it in the file.'],
        [{ l0: [{ name: 'a', command: ['go', 3] }] }, 'l0[0].command[1] must be a string without NUL characters; correct it in the file.'],
        [{ l0: [{ name: 'a', command: 'make\u0000test' }] }, 'l0[0].command must be a command line of 1 to 10000 characters; correct it in the file.'],
        [{ l0: [{ name: '', command: 'x' }] }, 'l0[0].name must be a short name on one line (1 to 100 characters); correct it in the file.'],
        [{ l0: [{ name: 'a\nb', command: 'x' }] }, 'l0[0].name must be a short name on one line (1 to 100 characters); correct it in the file.'],
        [{ l0: [command, command] }, 'l0[1].name repeats the name "unit" (names tell the results apart); correct it in the file.'],
        [{ l0: [{ ...command, timeoutSeconds: 7201 }] }, 'l0[0].timeoutSeconds must be a whole number from 1 to 7200; correct it in the file.'],
        [{ l0: [{ ...command, timeoutSeconds: '60' }] }, 'l0[0].timeoutSeconds must be a whole number from 1 to 7200; correct it in the file.'],
        [{ l0: [{ ...command, report: { format: 'junit' } }] }, /^\.sandboxes\/gates\.json: l0\[0\]\.report\.path is missing/],
        [
          { l0: [], lint: [{ name: 'x', command: 'x', report: { format: 'tap', path: 'x' } }] },
          /^\.sandboxes\/gates\.json: lint\[0\]\.report is not a known field/,
        ],
        [{ l0: [], l1: { regressions: 'yes' } }, 'l1.regressions must be true or false; correct it in the file.'],
        [{ l0: [], l1: { slowerFactor: 1 } }, 'l1.slowerFactor must be a number above 1 and at most 1000; correct it in the file.'],
        [{ l0: [], l1: { slowerMinMs: -1 } }, 'l1.slowerMinMs must be a whole number from 0 to 86400000; correct it in the file.'],
        [{ l0: [], l2: { paths: 'src/**' } }, 'l2.paths must be a list; correct it in the file.'],
        [
          { l0: [], l2: { paths: ['ok/**', 'a\nb'] } },
          'l2.paths[1] must be a gitignore-style pattern on one line, such as "src/auth/**"; correct it in the file.',
        ],
        [{ l0: [], l2: { maxChangedLines: 1.5 } }, 'l2.maxChangedLines must be a whole number from 0 to 100000000; correct it in the file.'],
        [{ l0: [], l2: { critical: 1 } }, 'l2.critical must be true or false; correct it in the file.'],
        [{ l0: [], snapshots: { keep: 0 } }, 'snapshots.keep must be a whole number from 1 to 1000; correct it in the file.'],
        [{ l0: [], snapshots: { maxAgeDays: 1, extra: 1 } }, /^\.sandboxes\/gates\.json: snapshots\.extra is not a known field/],
        [{ l0: [], $schema: 5 }, '$schema must be a string; correct it in the file.'],
        [JSON.parse('{"l0": [], "__proto__": {"polluted": true}}'), /^\.sandboxes\/gates\.json: __proto__ is not a known field/],
      ];
      for (const [content, message] of cases) {
        await refusedWith(withGates(content), typeof message === 'string' ? `${GATES_FILE}: ${message}` : message);
      }
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });

    it('refuses paths that are not plain and inside the workspace', async function () {
      const refusedPaths = ['../x', 'a/../../x', '/etc', 'a//b', 'a/', './a', '.', 'C:/x', 'a\\b', 'a\u0000b', ''];
      for (const cwd of refusedPaths) {
        await refusedWith(
          withGates({ l0: [{ name: 'a', command: 'x', cwd }] }),
          /^\.sandboxes\/gates\.json: l0\[0\]\.cwd must be a path relative to the workspace/,
        );
        const report = { format: 'junit', path: cwd };
        await refusedWith(
          withGates({ l0: [{ name: 'a', command: 'x', report }] }),
          /^\.sandboxes\/gates\.json: l0\[0\]\.report\.path must be a path relative .* or "-"/,
        );
      }
      const config = await readGatesConfig(withGates({ l0: [{ name: 'a', command: 'x', cwd: 'packages/web', report: { format: 'tap', path: '-' } }] }));
      assert.equal(config.l0[0]?.cwd, 'packages/web');
    });

    it('tells where malformed JSON breaks, by line and column', async function () {
      await refusedWith(withGates('{\n  "l0": [],\n}\n'), /^\.sandboxes\/gates\.json is not valid JSON at line 3, column 1 \(.+\); correct it there\.$/);
      await refusedWith(
        withGates('{\n  "l0": [\n    {"name": "a" "command": "x"}\n  ]\n}'),
        /^\.sandboxes\/gates\.json is not valid JSON at line 3, column 18 /,
      );
      await refusedWith(withGates('{"l0": ['), /is not valid JSON at line 1, column 9 /);
      const config = await readGatesConfig(withGates('\uFEFF{"l0": []}'));
      assert.deepEqual(config.l0, [], 'a byte-order mark is not an error');
    });

    it('refuses a file over 1 MB', async function () {
      const padding = ' '.repeat(MAX_GATES_FILE_BYTES);
      await refusedWith(
        withGates(`{"l0": []}${padding}`),
        `${GATES_FILE} is ${MAX_GATES_FILE_BYTES + 10} bytes, over the limit of ${MAX_GATES_FILE_BYTES} (1 MB); keep only the gates in it.`,
      );
    });

    it('follows a link inside the workspace and refuses one that leads out', async function () {
      const inside = freshWorkspace({ 'config/gates.json': '{"l0": [{"name": "a", "command": "x"}]}' });
      mkdirSync(path.join(inside, '.sandboxes'));
      symlinkSync('../config/gates.json', path.join(inside, GATES_FILE));
      assert.deepEqual(names(await readGatesConfig(inside)), ['a']);

      const outside = freshWorkspace({ 'gates.json': '{"l0": []}' });
      const linked = freshWorkspace();
      mkdirSync(path.join(linked, '.sandboxes'));
      symlinkSync(path.join(outside, 'gates.json'), path.join(linked, GATES_FILE));
      await refusedWith(linked, /^\.sandboxes\/gates\.json leads to .*gates\.json, outside the workspace; replace the link with a file of its own\.$/);

      const folderLinked = freshWorkspace();
      mkdirSync(path.join(outside, '.sandboxes'));
      writeFileSync(path.join(outside, GATES_FILE), '{"l0": []}');
      symlinkSync(path.join(outside, '.sandboxes'), path.join(folderLinked, '.sandboxes'));
      await refusedWith(folderLinked, /outside the workspace/);

      const dangling = freshWorkspace();
      mkdirSync(path.join(dangling, '.sandboxes'));
      symlinkSync('nowhere.json', path.join(dangling, GATES_FILE));
      await refusedWith(dangling, `${GATES_FILE} is a link that leads nowhere; replace it with a file of its own or delete it.`);
    });

    it('refuses a gates "file" that is a folder', async function () {
      const workspace = freshWorkspace();
      mkdirSync(path.join(workspace, GATES_FILE), { recursive: true });
      await refusedWith(workspace, `${GATES_FILE} is not a plain file; replace it with a JSON file.`);
    });
  });

  describe('detection without a file', function () {
    it('finds nothing in an empty folder and says how to write the file', async function () {
      const config = await readGatesConfig(freshWorkspace({ 'README.md': '# hi\n' }));
      assert.equal(config.source, 'detected');
      assert.deepEqual(config.l0, []);
      assert.match(config.detectionNote ?? '', /^No \.sandboxes\/gates\.json and no tests found .*; write \.sandboxes\/gates\.json with an "l0" list/);
      assert.deepEqual(config.l1, { regressions: true, slowerFactor: 3, slowerMinMs: 200, lintGrowth: true });
    });

    it('runs npm test when package.json has a real test script, without a report unless one is configured', async function () {
      const plain = await readGatesConfig(freshWorkspace({ 'package.json': JSON.stringify({ scripts: { test: 'mocha' } }) }));
      assert.deepEqual(plain.l0, [{ name: 'npm test', command: ['npm', 'test'], timeoutSeconds: 600 }]);
      assert.equal(plain.detectionNote, undefined);
      const placeholder = await readGatesConfig(
        freshWorkspace({ 'package.json': JSON.stringify({ scripts: { test: 'echo "Error: no test specified" && exit 1' } }) }),
      );
      assert.deepEqual(placeholder.l0, [], "npm init's placeholder is no test script");
      const noScript = await readGatesConfig(freshWorkspace({ 'package.json': JSON.stringify({ scripts: { build: 'tsc' } }) }));
      assert.deepEqual(noScript.l0, []);
      const broken = await readGatesConfig(freshWorkspace({ 'package.json': '{ not json' }));
      assert.deepEqual(broken.l0, []);
    });

    it('reads the JUnit file a JavaScript project already writes', async function () {
      const reportOf = async (files: Record<string, string>) => (await readGatesConfig(freshWorkspace(files))).l0[0]?.report;
      const jest = {
        scripts: { test: 'jest' },
        jest: { reporters: ['default', 'jest-junit'] },
        'jest-junit': { outputDirectory: 'reports', outputName: 'jest.xml' },
      };
      assert.deepEqual(await reportOf({ 'package.json': JSON.stringify(jest) }), { format: 'junit', path: 'reports/jest.xml' });
      const jestDefault = { scripts: { test: 'jest --reporters=default --reporters=jest-junit' } };
      assert.deepEqual(await reportOf({ 'package.json': JSON.stringify(jestDefault) }), { format: 'junit', path: 'junit.xml' });
      const mocharc = JSON.stringify({ reporter: 'mocha-junit-reporter', reporterOptions: { mochaFile: './results/mocha.xml' } });
      assert.deepEqual(await reportOf({ 'package.json': JSON.stringify({ scripts: { test: 'mocha' } }), '.mocharc.json': mocharc }), {
        format: 'junit',
        path: 'results/mocha.xml',
      });
      const vitest = { scripts: { test: 'vitest run --reporter=junit --outputFile=test-output/vitest.xml' } };
      assert.deepEqual(await reportOf({ 'package.json': JSON.stringify(vitest) }), { format: 'junit', path: 'test-output/vitest.xml' });
      const escaping = { scripts: { test: 'jest' }, jest: { reporters: ['jest-junit'] }, 'jest-junit': { outputDirectory: '../elsewhere' } };
      assert.equal(await reportOf({ 'package.json': JSON.stringify(escaping) }), undefined, 'a report outside the workspace is not read');
    });

    it('finds a pytest project by each of its marks', async function () {
      const marks: Record<string, string>[] = [
        { 'pytest.ini': '[pytest]\n' },
        { 'pyproject.toml': '[project]\nname = "x"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n' },
        { 'setup.cfg': '[metadata]\nname = x\n[tool:pytest]\ntestpaths = tests\n' },
        { 'conftest.py': '' },
        { 'tests/unit/test_models.py': 'def test_x(): pass\n' },
      ];
      for (const files of marks) {
        const config = await readGatesConfig(freshWorkspace(files));
        assert.deepEqual(
          config.l0,
          [
            {
              name: 'pytest',
              command: ['python3', '-m', 'pytest', '-q', `--junitxml=${PYTEST_REPORT_PATH}`],
              timeoutSeconds: 600,
              report: { format: 'junit', path: PYTEST_REPORT_PATH },
            },
          ],
          Object.keys(files)[0],
        );
      }
      const notPytest = await readGatesConfig(freshWorkspace({ 'pyproject.toml': '[tool.black]\n', 'tests/helpers.py': '', 'setup.cfg': '[flake8]\n' }));
      assert.deepEqual(notPytest.l0, []);
    });

    it('runs go test -json with its output as the report, and cargo test', async function () {
      const go = await readGatesConfig(freshWorkspace({ 'go.mod': 'module example.com/x\n' }));
      assert.deepEqual(go.l0, [{ name: 'go test', command: ['go', 'test', '-json', './...'], timeoutSeconds: 600, report: { format: 'go-json', path: '-' } }]);
      const cargo = await readGatesConfig(freshWorkspace({ 'Cargo.toml': '[package]\nname = "x"\n' }));
      assert.deepEqual(cargo.l0, [{ name: 'cargo test', command: ['cargo', 'test'], timeoutSeconds: 600 }]);
    });

    it('lists every ecosystem a mixed repo has', async function () {
      const both = await readGatesConfig(freshWorkspace({ 'package.json': JSON.stringify({ scripts: { test: 'jest' } }), 'conftest.py': '' }));
      assert.deepEqual(names(both), ['npm test', 'pytest']);
      const all = await readGatesConfig(
        freshWorkspace({ 'package.json': JSON.stringify({ scripts: { test: 'jest' } }), 'pytest.ini': '', 'go.mod': 'module x\n', 'Cargo.toml': '' }),
      );
      assert.deepEqual(names(all), ['npm test', 'pytest', 'go test', 'cargo test']);
      assert.equal(all.source, 'detected');
    });
  });
});
