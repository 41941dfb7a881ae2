import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { LANGUAGE_MODEL_TOOLS, confirmationFor, invocationMessage, languageModelToolName } from '../../../src/extension/lmTools/catalog';
import { checkToolInput, type JsonSchema } from '../../../src/extension/lmTools/inputCheck';
import { mcpServerLaunch } from '../../../src/extension/lmTools/mcpServerLaunch';
import { TOOL_ACTIONS } from '../../../src/mcp/actions';
import { TOOLS } from '../../../src/mcp/server';

const root = path.resolve(__dirname, '../../../..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
interface ContributedTool {
  name: string;
  displayName: string;
  modelDescription: string;
  toolReferenceName?: string;
  canBeReferencedInPrompt?: boolean;
  tags: string[];
  inputSchema: JsonSchema;
}
const contributed = pkg.contributes.languageModelTools as ContributedTool[];
const schemaOf = (name: string) => contributed.find((tool) => tool.name === name)!.inputSchema;

describe('language-model tools', () => {
  describe('package.json and the MCP server agree', () => {
    it('contributes exactly the catalog, in its order, each with a unique reference name', () => {
      assert.deepEqual(
        contributed.map((tool) => tool.name),
        LANGUAGE_MODEL_TOOLS.map((tool) => tool.name),
      );
      const references = contributed.map((tool) => tool.toolReferenceName);
      assert.equal(new Set(references).size, references.length);
      for (const tool of contributed) assert.ok(tool.tags.includes('sandboxes'), `${tool.name} lacks the sandboxes tag`);
    });

    for (const spec of LANGUAGE_MODEL_TOOLS) {
      it(`${spec.name} has the schema, title, description and hints of MCP's ${spec.mcpName}`, () => {
        const tool = TOOLS.find((candidate) => candidate.name === spec.mcpName);
        assert.ok(tool, `the MCP server has no tool ${spec.mcpName}`);
        assert.ok(TOOL_ACTIONS[spec.mcpName], `no zod-free action runs ${spec.mcpName}`);
        const entry = contributed.find((candidate) => candidate.name === spec.name)!;
        const { $schema: _schema, ...expected } = z.toJSONSchema(z.object(tool.input), { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
        assert.deepEqual(entry.inputSchema, expected, `regenerate ${spec.name}'s inputSchema from src/mcp`);
        assert.equal(entry.modelDescription, tool.description);
        assert.equal(entry.displayName, tool.title);
        assert.equal(spec.destructive, tool.hints.destructiveHint);
      });
    }

    it('runs every MCP tool that needs no MCP session, and says why the others are left out', () => {
      const sessionBound = ['sync_push', 'sync_pull', 'forward'];
      assert.deepEqual(
        TOOLS.map((tool) => tool.name)
          .filter((name) => !sessionBound.includes(name))
          .sort(),
        Object.keys(TOOL_ACTIONS).sort(),
      );
      assert.deepEqual(LANGUAGE_MODEL_TOOLS.map((tool) => tool.mcpName).sort(), Object.keys(TOOL_ACTIONS).sort());
    });
  });

  describe('names', () => {
    it('keeps sandbox_ names and prefixes the others', () => {
      assert.equal(languageModelToolName('sandbox_list'), 'sandbox_list');
      assert.equal(languageModelToolName('exec'), 'sandbox_exec');
      assert.equal(languageModelToolName('read_file'), 'sandbox_read_file');
    });
  });

  describe('input check', () => {
    const exec = schemaOf('sandbox_exec');
    it('passes good input: argv or a shell string, env, a timeout', () => {
      assert.equal(checkToolInput('sandbox_exec', exec, { sandbox: 'a', command: ['echo', 'hi'] }), undefined);
      assert.equal(checkToolInput('sandbox_exec', exec, { sandbox: 'a', command: 'echo hi', env: { FOO_1: 'x' }, timeout: 5 }), undefined);
      assert.equal(checkToolInput('sandbox_list', schemaOf('sandbox_list'), {}), undefined);
    });
    it('names every wrong argument in one sentence', () => {
      const message = checkToolInput('sandbox_exec', exec, { command: [], timeout: 0, env: { 'bad-name': 'x', OK: 3 } });
      assert.equal(
        message,
        'sandbox_exec was given bad arguments: sandbox (missing); command (needs at least 1 item); timeout (must be more than 0); the name env.bad-name (does not match ^[A-Za-z_][A-Za-z0-9_]*$); env.OK (expected a string, got number); see its input schema.',
      );
      assert.doesNotMatch(message!, /\n/);
    });
    it('refuses wrong types, enums, integers, empty strings and non-objects', () => {
      assert.match(checkToolInput('sandbox_exec', exec, { sandbox: '', command: 7 })!, /sandbox \(empty\); command \(expected array or string\)/);
      assert.match(
        checkToolInput('sandbox_read_file', schemaOf('sandbox_read_file'), { sandbox: 'a', path: 'x', encoding: 'hex' })!,
        /encoding \(one of "utf8", "base64"\)/,
      );
      assert.match(
        checkToolInput('sandbox_desktop_input', schemaOf('sandbox_desktop_input'), { sandbox: 'a', action: 'click', x: 1.5 })!,
        /x \(expected an integer\)/,
      );
      assert.match(checkToolInput('sandbox_create', schemaOf('sandbox_create'), { desktop: '12x' })!, /desktop \(does not match/);
      assert.equal(checkToolInput('sandbox_create', schemaOf('sandbox_create'), { desktop: true }), undefined);
      assert.equal(checkToolInput('sandbox_list', {}, null), 'sandbox_list was given null arguments; it takes an object, see its input schema.');
    });
    it('refuses arguments a closed schema does not name', () => {
      assert.match(
        checkToolInput('t', { type: 'object', properties: {}, additionalProperties: false }, { extra: 1 })!,
        /extra \(not an argument of this tool\)/,
      );
    });
  });

  describe('confirmations', () => {
    const byName = (name: string) => LANGUAGE_MODEL_TOOLS.find((tool) => tool.name === name)!;
    it('asks before every destructive tool and no other', () => {
      for (const tool of LANGUAGE_MODEL_TOOLS) {
        const asked = confirmationFor(tool, { sandbox: 'demo', command: 'rm -rf build', path: 'a.txt', content: 'abc', task: 't1', action: 'key' });
        assert.equal(asked !== undefined, tool.destructive, tool.name);
        if (asked) assert.ok(asked.title.length > 0 && asked.message.length > 0);
      }
    });
    it('says what will happen to what', () => {
      assert.deepEqual(confirmationFor(byName('sandbox_delete'), { sandbox: 'demo' }), {
        title: 'Delete sandbox demo?',
        message: 'It is removed with everything in it, for good.',
      });
      assert.equal(confirmationFor(byName('sandbox_exec'), { sandbox: 'demo', command: ['ls', '-la'], cwd: 'src' })!.message, 'Runs: ls -la (in src)');
      assert.equal(
        confirmationFor(byName('sandbox_write_file'), { sandbox: 'demo', path: 'a.txt', content: 'hello' })!.message,
        'Replaces a.txt with 5 characters.',
      );
      assert.equal(invocationMessage(byName('sandbox_exec'), { sandbox: 'demo' }), 'Running sandbox_exec in demo');
    });
    it('cuts a long command short', () => {
      const message = confirmationFor(byName('sandbox_exec'), { sandbox: 'demo', command: 'x'.repeat(5000) })!.message;
      assert.ok(message.length < 320, `${message.length} characters`);
      assert.ok(message.endsWith('…'));
    });
  });

  describe('MCP server registration', () => {
    const location = { cli: '/ext/dist/cli.js', runtime: '/usr/bin/node', electron: false };
    it('offers nothing when the CLI has no MCP server beside it (the packaged extension)', () => {
      assert.equal(
        mcpServerLaunch(location, '/state', (file) => file === '/ext/dist/cli.js'),
        undefined,
      );
    });
    it('starts the CLI with node on the state dir of the extension', () => {
      assert.deepEqual(
        mcpServerLaunch(location, '/state', () => true),
        { command: '/usr/bin/node', args: ['/ext/dist/cli.js', 'mcp'], env: { AGENT_SANDBOXES_HOME: '/state' } },
      );
    });
    it('runs Electron as Node.js in desktop VS Code', () => {
      assert.deepEqual(mcpServerLaunch({ ...location, runtime: '/opt/code/code', electron: true }, '/state', () => true)?.env, {
        AGENT_SANDBOXES_HOME: '/state',
        ELECTRON_RUN_AS_NODE: '1',
      });
    });
  });
});
