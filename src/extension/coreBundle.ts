/** The entry of dist/core.js: the heavy half of the core, loaded by the extension on first use (see lazyCore.ts). */
export { SandboxController } from '../core/controller';
export { sandboxImageTag } from '../core/images';
