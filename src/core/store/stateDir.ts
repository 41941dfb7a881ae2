import * as os from 'node:os';
import * as path from 'node:path';

/** Names the state dir; the CLI's lean entry reads it too, so this module stays small. */
export const STATE_DIR_ENV = 'AGENT_SANDBOXES_HOME';

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env[STATE_DIR_ENV];
  return configured && configured.trim() !== '' ? path.resolve(configured) : path.join(os.homedir(), '.agent-sandboxes');
}
