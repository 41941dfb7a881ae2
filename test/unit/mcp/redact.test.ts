import * as assert from 'node:assert/strict';
import { z } from 'zod';
import { xdotoolArgs } from '../../../src/mcp/desktop';
import { argumentsError } from '../../../src/mcp/registry';
import { redactArguments } from '../../../src/mcp/redact';
import { errorResult, failureSummary } from '../../../src/mcp/toolKit';

describe('MCP call journal: arguments', function () {
  it('tells contents by their size only', function () {
    const kept = redactArguments({ sandbox: 'web', path: 'a.py', content: 'print("secret plan")', old_string: 'abc', new_string: 'de', text: 'typed words' });
    assert.deepEqual(kept, {
      sandbox: 'web',
      path: 'a.py',
      content: '(20 characters)',
      old_string: '(3 characters)',
      new_string: '(2 characters)',
      text: '(11 characters)',
    });
  });

  it("tells run_code's code by its size, and keeps of an error result only its named error or first line, short", function () {
    assert.deepEqual(redactArguments({ sandbox: 'web', code: 'key = "sk-live-1234"\n1/0' }), { sandbox: 'web', code: '(24 characters)' });
    const traceback = 'ZeroDivisionError  Traceback\n----> 2 key = "sk-live-1234"; 1/0\nZeroDivisionError: division by zero';
    const named = failureSummary({
      isError: true,
      content: [{ type: 'text', text: traceback }],
      structuredContent: { error: { name: 'ZeroDivisionError', value: 'division by zero', traceback } },
    });
    assert.equal(named, 'ZeroDivisionError: division by zero');
    assert.equal(failureSummary(errorResult(`first line\nsecond ${'x'.repeat(400)}`)), 'first line');
    assert.equal(failureSummary(errorResult('y'.repeat(400))), `${'y'.repeat(299)}…`);
  });

  it('keeps env names and hides their values', function () {
    const kept = redactArguments({ env: { API_KEY: 'sk-live-1234', DEBUG: '1' } });
    assert.deepEqual(kept.env, ['API_KEY=***', 'DEBUG=***']);
    assert.ok(!JSON.stringify(kept).includes('sk-live-1234'));
  });

  it('summarizes commands as exec events do: assignments and password flags hidden', function () {
    const kept = redactArguments({ command: 'TOKEN=abc123 curl --password hunter2 https://x' });
    assert.ok(!String(kept.command).includes('abc123'), String(kept.command));
    assert.ok(!String(kept.command).includes('hunter2'), String(kept.command));
    assert.match(String(kept.command), /curl/);
    assert.equal(typeof redactArguments({ command: ['ls', '-l'] }).command, 'string');
  });

  it('hides values of secret-named arguments and shortens long ones', function () {
    const kept = redactArguments({ apiToken: 'abc', password: 'p', path: 'x'.repeat(500), count: 3, flag: true, skipped: undefined });
    assert.equal(kept.apiToken, '***');
    assert.equal(kept.password, '***');
    assert.equal(String(kept.path).length, 200);
    assert.deepEqual([kept.count, kept.flag, 'skipped' in kept], [3, true, false]);
  });
});

describe('MCP desktop input', function () {
  it('maps actions to xdotool arguments, text after --', function () {
    assert.deepEqual(xdotoolArgs({ action: 'click', x: 10, y: 20 }), ['mousemove', '--sync', '10', '20', 'click', '--repeat', '1', '1']);
    assert.deepEqual(xdotoolArgs({ action: 'click', button: 'right', count: 2 }), ['click', '--repeat', '2', '3']);
    assert.deepEqual(xdotoolArgs({ action: 'type', text: '--help me' }), ['type', '--delay', '12', '--', '--help me']);
    assert.deepEqual(xdotoolArgs({ action: 'key', keys: ['ctrl+l', 'Return'] }), ['key', '--', 'ctrl+l', 'Return']);
    assert.deepEqual(xdotoolArgs({ action: 'scroll', direction: 'up' }), ['click', '--repeat', '3', '4']);
  });

  it('refuses key names that are not keysyms, and missing text or keys', function () {
    assert.throws(() => xdotoolArgs({ action: 'key', keys: ['--window'] }), /is not a key name/);
    assert.throws(() => xdotoolArgs({ action: 'key', keys: [] }), /Give the keys/);
    assert.throws(() => xdotoolArgs({ action: 'type' }), /Give the text/);
  });
});

describe('MCP tool arguments', function () {
  it('says what is wrong with bad arguments in one sentence, missing ones as missing', function () {
    const schema = z.object({ sandbox: z.string(), command: z.union([z.array(z.string()), z.string()]), count: z.number().optional() });
    const given = { sandbox: 5, count: 'many' };
    const parsed = schema.safeParse(given);
    assert.ok(!parsed.success);
    assert.equal(
      argumentsError('exec', parsed.error, given),
      'exec was given bad arguments: sandbox (expected string, received number); command (missing); count (expected number, received string); see its input schema.',
    );
  });
});
