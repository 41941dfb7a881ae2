import { z } from 'zod';
import { assertDesktop, screenshot } from '../core/desktop';
import { SandboxError } from '../core/errors';
import { defineTool, jsonResult, type AnyTool } from './registry';
import { sandboxArgument } from './sandboxes';
import { sandboxOf } from './views';

/** The display the desktop runs on (images/desktop/sandbox-desktop). */
const DESKTOP_DISPLAY = ':1';
const BUTTONS = { left: '1', middle: '2', right: '3' } as const;
/** xdotool's wheel buttons. */
const WHEEL = { up: '4', down: '5', left: '6', right: '7' } as const;
/** An X keysym or a chord of them (ctrl+shift+t). */
const KEY = /^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$/;

export const screenshotTool = defineTool({
  name: 'screenshot',
  title: 'Screenshot of a desktop',
  description: 'A PNG of what the desktop of a desktop sandbox shows now.',
  input: { sandbox: sandboxArgument },
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: false },
  async run(args, context) {
    const record = await sandboxOf(args.sandbox, context);
    const shot = await screenshot(context.controller, record.id, context.signal);
    return {
      content: [
        { type: 'image', data: shot.png.toString('base64'), mimeType: 'image/png' },
        { type: 'text', text: `${shot.width}x${shot.height} desktop of ${record.name}.` },
      ],
    };
  },
});

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

const actionInput = {
  action: z.enum(['click', 'type', 'key', 'scroll']).describe('What to do.'),
  x: z.number().int().min(0).optional().describe('click/scroll: where, in pixels from the left (with y).'),
  y: z.number().int().min(0).optional().describe('click/scroll: where, in pixels from the top (with x).'),
  button: z.enum(['left', 'middle', 'right']).optional().describe('click: which button (default left).'),
  count: z.number().int().min(1).max(50).optional().describe('click: how many clicks (2 for a double click); scroll: how many steps.'),
  text: z.string().max(10_000).optional().describe('type: the text to type.'),
  keys: z.array(z.string()).max(50).optional().describe('key: X key names pressed in turn, like ["ctrl+l", "Return"].'),
  direction: z.enum(['up', 'down', 'left', 'right']).optional().describe('scroll: which way (default down).'),
};

export type DesktopAction = z.infer<z.ZodObject<typeof actionInput>>;

export const desktopInputTool = defineTool({
  name: 'desktop_input',
  title: 'Drive a desktop',
  description: 'Clicks, types, presses keys or scrolls on the desktop of a desktop sandbox (xdotool, as the agent user). Take a screenshot to see the effect.',
  input: { sandbox: sandboxArgument, ...actionInput },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  async run(args, context) {
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
  },
});

export const DESKTOP_TOOLS: AnyTool[] = [screenshotTool, desktopInputTool];
