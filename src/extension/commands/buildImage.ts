import * as vscode from 'vscode';
import type { Cockpit } from '../cockpit';

/** Build Image: the same build as `sandbox image build`, with progress; skipped when the recipe is unchanged. */
export function buildImageCommand(cockpit: Cockpit) {
  return async (options?: { force?: boolean }): Promise<void> => {
    try {
      const result = await cockpit.withProgress('Building the sandbox image', (signal, report) =>
        cockpit.controller.buildImage({
          force: options?.force,
          signal,
          onProgress: (progress) => {
            cockpit.log.debug(progress.message);
            report(progress.message, progress.fraction);
          },
        }),
      );
      cockpit.log.info(`Sandbox image ready: ${JSON.stringify(result)}`);
      void vscode.window.showInformationMessage('The sandbox image is ready.');
    } catch (error) {
      await cockpit.showError(error);
    }
  };
}
