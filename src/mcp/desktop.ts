import { z } from 'zod';
import { desktopInput, takeScreenshot } from './actions/desktop';
import { defineTool, type AnyTool } from './registry';
import { sandboxArgument } from './sandboxes';

export { xdotoolArgs, type DesktopAction } from './actions/desktop';

export const screenshotTool = defineTool({
  name: 'screenshot',
  title: 'Screenshot of a desktop',
  description: 'A PNG of what the desktop of a desktop sandbox shows now.',
  input: { sandbox: sandboxArgument },
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: false },
  run: takeScreenshot,
});

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

export const desktopInputTool = defineTool({
  name: 'desktop_input',
  title: 'Drive a desktop',
  description: 'Clicks, types, presses keys or scrolls on the desktop of a desktop sandbox (xdotool, as the agent user). Take a screenshot to see the effect.',
  input: { sandbox: sandboxArgument, ...actionInput },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  run: desktopInput,
});

export const DESKTOP_TOOLS: AnyTool[] = [screenshotTool, desktopInputTool];
