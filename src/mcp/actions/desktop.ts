import { assertDesktop, screenshot } from '../../core/desktop';
import { SandboxError } from '../../core/errors';
import { jsonResult, type ToolAction, type ToolResult } from '../toolKit';
import { sandboxOf } from '../views';

/** The display the desktop runs on (images/desktop/sandbox-desktop). */
const DESKTOP_DISPLAY = ':1';
const BUTTONS = { left: '1', middle: '2', right: '3' } as const;
/** xdotool's wheel buttons. */
const WHEEL = { up: '4', down: '5', left: '6', right: '7' } as const;
/** An X keysym or a chord of them (ctrl+shift+t). */
const KEY = /^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$/;

/** One input action on a desktop; which fields count depends on the action. */
export interface DesktopAction {
  action: 'click' | 'type' | 'key' | 'scroll';
  x?: number;
  y?: number;
  button?: 'left' | 'middle' | 'right';
  count?: number;
  text?: string;
  keys?: string[];
  direction?: 'up' | 'down' | 'left' | 'right';
}

/** The xdotool argv of one input action. */
export function xdotoolArgs(action: DesktopAction): string[] {
  switch (action.action) {
    case 'click': {
      const move = action.x !== undefined && action.y !== undefined ? ['mousemove', '--sync', String(action.x), String(action.y)] : [];
      return [...move, 'click', '--repeat', String(action.count ?? 1), BUTTONS[action.button ?? 'left']];
    }
    case 'type':
      if (action.text === undefined) throw new SandboxError('invalid-input', 'Give the text to type.');
      return ['type', '--delay', '12', '--', action.text];
    case 'key':
      if (!action.keys?.length) throw new SandboxError('invalid-input', 'Give the keys to press, like Return or ctrl+c.');
      for (const key of action.keys)
        if (!KEY.test(key)) throw new SandboxError('invalid-input', `"${key}" is not a key name; write keys like Return, a or ctrl+shift+t.`);
      return ['key', '--', ...action.keys];
    case 'scroll': {
      const move = action.x !== undefined && action.y !== undefined ? ['mousemove', '--sync', String(action.x), String(action.y)] : [];
      return [...move, 'click', '--repeat', String(action.count ?? 3), WHEEL[action.direction ?? 'down']];
    }
  }
}

export const takeScreenshot: ToolAction<{ sandbox: string }> = async (args, context): Promise<ToolResult> => {
  const record = await sandboxOf(args.sandbox, context);
  const shot = await screenshot(context.controller, record.id, context.signal);
  return {
    content: [
      { type: 'image', data: shot.png.toString('base64'), mimeType: 'image/png' },
      { type: 'text', text: `${shot.width}x${shot.height} desktop of ${record.name}.` },
    ],
  };
};

export const desktopInput: ToolAction<DesktopAction & { sandbox: string }> = async (args, context) => {
  const record = await sandboxOf(args.sandbox, context);
  assertDesktop(record);
  const { sandbox: _sandbox, ...action } = args;
  const result = await context.controller.inspectExec(record.id, {
    command: ['xdotool', ...xdotoolArgs(action)],
    env: { DISPLAY: DESKTOP_DISPLAY },
    signal: context.signal,
    timeoutMs: 60_000,
  });
  if (result.exitCode !== 0) {
    throw new SandboxError(
      'provider-error',
      `The desktop of ${record.name} did not take the input (${result.stderr.trim().split('\n')[0] || `exit ${result.exitCode}`}).`,
    );
  }
  return jsonResult({ done: args.action });
};
