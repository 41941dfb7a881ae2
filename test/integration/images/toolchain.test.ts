/**
 * What an agent finds in a sandbox made from the image: the everyday work of a coding agent
 * (a venv with pip, pytest, make with gcc and g++, npm with node, the usual command-line
 * tools), all as the agent user in a real sandbox with its real limits. No package registry
 * is reachable from here, so every package is made locally inside the sandbox.
 */
import * as assert from 'node:assert/strict';
import type { ExecResult, SandboxRecord } from '../../../src/core/model';
import { TestEnvironment, ensureImage, uniqueName } from '../helpers';

/** Commands an agent expects to find; each must be on the sandbox's PATH. */
const EXPECTED_COMMANDS = [
  'python3', 'python', 'pip', 'pip3', 'pytest',
  'gcc', 'g++', 'cc', 'c++', 'make',
  'node', 'npm', 'npx',
  'git', 'curl', 'wget', 'rsync', 'jq', 'rg', 'tar', 'gzip', 'zip', 'unzip', 'xz', 'bzip2', 'file', 'patch', 'diff',
  'sqlite3', 'tmux', 'tree', 'less', 'nano', 'vi',
  'strace', 'lsof', 'ps', 'ip', 'nc', 'ping', 'ssh',
];

describe('what an agent finds in a sandbox', function () {
  this.timeout(120_000);
  const env = new TestEnvironment();
  let sandbox: SandboxRecord;
  const workDir = `/home/agent/workspace/${uniqueName('tools')}`;

  before(async function () {
    this.timeout(20 * 60_000);
    await ensureImage();
    sandbox = await env.controller.create({ name: uniqueName('tools') });
    await shell(`mkdir -p ${workDir}`, '/home/agent/workspace');
  });
  after(async function () {
    this.timeout(60_000);
    await env.dispose();
  });

  /** Runs a shell script as the agent in the work dir and requires exit code 0. */
  async function shell(script: string, cwd = workDir): Promise<ExecResult> {
    const result = await env.controller.exec(sandbox.id, { command: script, cwd });
    assert.equal(result.exitCode, 0, `${script}\nexit ${result.exitCode}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
    return result;
  }

  /** Writes a file under the work dir as the agent. */
  async function write(relative: string, content: string): Promise<void> {
    const result = await env.controller.exec(sandbox.id, {
      command: ['sh', '-c', 'mkdir -p "$(dirname "$1")" && cat > "$1"', 'sh', relative],
      cwd: workDir,
      stdin: content,
    });
    assert.equal(result.exitCode, 0, `writing ${relative}: ${result.stderr}`);
  }

  it('has the everyday tools on PATH', async () => {
    const result = await shell(`for c in ${EXPECTED_COMMANDS.join(' ')}; do command -v "$c" >/dev/null || echo "$c"; done; id -un`);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.pop(), 'agent');
    assert.deepEqual(lines, [], `missing from the image: ${lines.join(' ')}`);
    // The tools that exist run too (a few, cheaply).
    assert.equal((await shell(`echo '{"a":[1,2]}' | jq -c '.a'`)).stdout.trim(), '[1,2]');
    assert.equal((await shell('echo hello | xz | xz -d')).stdout.trim(), 'hello');
    assert.match((await shell('ip -o link show lo')).stdout, /^1: lo:/);
  });

  it('makes a venv and pip-installs a local wheel into it, and into ~/.local outside a venv', async () => {
    await write('greet-src/pyproject.toml', [
      '[build-system]',
      'requires = ["setuptools"]',
      'build-backend = "setuptools.build_meta"',
      '[project]',
      'name = "greet"',
      'version = "0.1"',
      '',
    ].join('\n'));
    await write('greet-src/greet/__init__.py', 'def hello(name):\n    return f"hello {name}"\n');
    await shell('python3 -m pip wheel --no-index --no-build-isolation --no-deps -q -w wheels ./greet-src');
    assert.equal((await shell('ls wheels')).stdout.trim(), 'greet-0.1-py3-none-any.whl');

    await shell('python3 -m venv venv');
    await shell('venv/bin/pip install --no-index -q wheels/greet-0.1-py3-none-any.whl');
    const inVenv = await shell(`venv/bin/python -c 'import greet, sys; print(greet.hello("venv"), sys.prefix)'`);
    assert.equal(inVenv.stdout.trim(), `hello venv ${workDir}/venv`);

    // Outside a venv pip does not refuse ("externally managed"): it installs for the user.
    await shell('pip install --no-index -q wheels/greet-0.1-py3-none-any.whl');
    const user = await shell(`python3 -c 'import greet; print(greet.__file__)'`);
    assert.match(user.stdout.trim(), /^\/home\/agent\/\.local\/lib\/python3\.\d+\/site-packages\/greet\/__init__\.py$/);
  });

  it('runs pytest, which reports a failing test as a failure', async () => {
    await write('pyt/calc.py', 'def add(a, b):\n    return a + b\n');
    await write('pyt/test_calc.py', 'from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n');
    const passed = await shell('pytest -q -p no:cacheprovider', `${workDir}/pyt`);
    assert.match(passed.stdout, /1 passed/);
    await write('pyt/test_wrong.py', 'from calc import add\n\ndef test_wrong():\n    assert add(2, 2) == 5\n');
    const failed = await env.controller.exec(sandbox.id, { command: 'pytest -q -p no:cacheprovider', cwd: `${workDir}/pyt` });
    assert.equal(failed.exitCode, 1, failed.stdout);
    assert.match(failed.stdout, /1 failed, 1 passed/);
  });

  it('makes a C and a C++ program with make', async () => {
    await write('cbuild/hello.c', '#include <stdio.h>\nint main(void) { printf("hello from C %d\\n", 6 * 7); return 0; }\n');
    await write('cbuild/hello.cpp', '#include <iostream>\n#include <vector>\nint main() { std::vector<int> v{1, 2, 3}; std::cout << "hello from C++ " << v.size() << std::endl; }\n');
    await write('cbuild/Makefile', ['all: hello hellopp', '', 'hellopp: hello.cpp', '\t$(CXX) -O2 -o $@ $<', ''].join('\n'));
    const made = await shell('make', `${workDir}/cbuild`);
    assert.match(made.stdout, /cc .*hello\.c/);
    assert.match(made.stdout, /g\+\+ .*hello\.cpp|c\+\+ .*hello\.cpp/);
    assert.equal((await shell('./hello && ./hellopp', `${workDir}/cbuild`)).stdout, 'hello from C 42\nhello from C++ 3\n');
  });

  it('runs npm init and npm test of a local package with node', async () => {
    await shell('mkdir -p npkg');
    await shell('npm init -y >/dev/null', `${workDir}/npkg`);
    await write('npkg/index.js', 'module.exports = (a, b) => a * b;\n');
    await write('npkg/test.js', `const assert = require('node:assert');\nassert.strictEqual(require('./index.js')(6, 7), 42);\nconsole.log('npm test ran on node', process.version);\n`);
    await shell(`npm pkg set scripts.test='node test.js'`, `${workDir}/npkg`);
    const tested = await shell('npm test', `${workDir}/npkg`);
    assert.match(tested.stdout, /> npkg@1\.0\.0 test\n> node test\.js/);
    assert.match(tested.stdout, /npm test ran on node v\d+\./);
  });

  it('pings loopback without NET_RAW, and strace traces a command', async () => {
    // The sandbox really lacks NET_RAW (bit 13): ping must do without it.
    const bounding = await shell(`awk '/^CapBnd:/ { print $2 }' /proc/self/status`);
    assert.equal(BigInt(`0x${bounding.stdout.trim()}`) & (1n << 13n), 0n, 'NET_RAW is dropped');
    const ping = await shell('ping -c 1 -W 5 127.0.0.1');
    assert.match(ping.stdout, /1 packets transmitted, 1 received/);
    const traced = await shell('strace -f -e trace=execve true');
    assert.match(traced.stderr, /execve\("\/usr\/bin\/true"/);
  });
});
