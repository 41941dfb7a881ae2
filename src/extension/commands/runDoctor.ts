import * as vscode from 'vscode';
import { doctorText, doctorVerdict } from '../../app/doctorReport';
import type { DoctorReport } from '../../core/doctor/types';
import type { Cockpit } from '../cockpit';
import { COMMAND_IDS } from '../commandIds';
import { loadCore } from '../lazyCore';
import { userSshConfigPath } from '../sshIntegration';

/** The name users type the CLI by in a fix; the extension may have put no `sandbox` on PATH. */
const CLI_NAME = 'sandbox';

/**
 * Run Doctor: the checks of `sandbox doctor`, for the engine, state dir and SSH config this
 * window uses, with the Remote-SSH extension VS Code itself loaded. The report, each line with
 * its fix, goes to its own output channel; a notification gives the verdict.
 */
export function runDoctorCommand(cockpit: Cockpit) {
  let channel: vscode.OutputChannel | undefined;
  return async (): Promise<DoctorReport | undefined> => {
    try {
      const core = loadCore();
      const report = await cockpit.withProgress('Checking this machine for sandboxes', (signal) =>
        core.runDoctor(
          core.doctorContext(cockpit.controller, {
            runtime: 'extension',
            cli: CLI_NAME,
            signal,
            userSshConfig: userSshConfigPath(),
            remoteSshExtension: () => {
              for (const id of core.REMOTE_SSH_EXTENSIONS) {
                const extension = vscode.extensions.getExtension(id);
                if (extension) return `${id} ${(extension.packageJSON as { version?: string }).version ?? ''}`.trim();
              }
              return undefined;
            },
          }),
        ),
      );
      if (!channel) {
        channel = vscode.window.createOutputChannel('Sandboxes Doctor');
        cockpit.context.subscriptions.push(channel);
      }
      channel.clear();
      channel.appendLine(doctorText(report, CLI_NAME));
      channel.show(true);
      cockpit.log.info(`Doctor: ${doctorVerdict(report, CLI_NAME)}`);
      const imageMissing = report.checks.some((check) => check.id === 'image.sandbox' && check.status === 'fail' && !check.detail.startsWith('Not checked'));
      // Not awaited: a notification stays until dismissed, and the report is ready now.
      void cockpit
        .notify(
          report.ok ? 'info' : 'warning',
          report.ok ? doctorVerdict(report, CLI_NAME) : `${doctorVerdict(report, CLI_NAME).split(';')[0]}: the Sandboxes Doctor output says how to fix each.`,
          ...(imageMissing ? ['Build Image'] : []),
        )
        .then((choice) => (choice === 'Build Image' ? vscode.commands.executeCommand(COMMAND_IDS.buildImage) : undefined));
      return report;
    } catch (error) {
      await cockpit.showError(error);
      return undefined;
    }
  };
}
