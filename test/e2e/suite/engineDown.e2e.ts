import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { DoctorReport } from '../../../src/core/doctor';
import type { SandboxesApi } from '../../../src/extension/extension';

describe('Agent Sandboxes when the Docker engine does not answer', () => {
  let api: SandboxesApi;

  before(async () => {
    api = await vscode.extensions.getExtension<SandboxesApi>('agent-sandboxes.agent-sandboxes')!.activate();
  });

  it('shows an empty tree (so the engine-down welcome view shows) and says what to do', async () => {
    await api.cockpit.refresh();
    assert.equal(api.cockpit.engine.kind, 'down');
    assert.deepEqual(await api.tree.getChildren(), []);
    const message = api.cockpit.engine.kind === 'down' ? api.cockpit.engine.message : '';
    assert.match(message, /^The Docker engine at \/nonexistent\/docker\.sock does not answer .*; start it .* or set DOCKER_HOST\.$/);
  });

  it('refuses Start Sandbox with that one sentence, making nothing', async () => {
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('sandboxes.startSandbox', { name: 'never', folder: null })), (error: Error) =>
      /does not answer/.test(error.message),
    );
    assert.deepEqual(api.cockpit.records, []);
  });

  it('runs the doctor (the welcome view links it), which fails the engine line with its fix', async () => {
    const report = await vscode.commands.executeCommand<DoctorReport | undefined>('sandboxes.runDoctor');
    assert.ok(report, 'the doctor returned its report');
    assert.equal(report.ok, false);
    const engine = report.checks.find((check) => check.id === 'engine');
    assert.equal(engine?.status, 'fail');
    assert.match(engine.detail, /\/nonexistent\/docker\.sock does not answer/);
    assert.match(engine.fix ?? '', /DOCKER_HOST/);
    assert.equal(api.cockpit.lastNotification?.severity, 'warning');
    assert.match(api.cockpit.lastNotification.message, /checks fail: the Sandboxes Doctor output says how to fix each\.$/);
  });
});
