/**
 * Messages between the desktop viewer (a page running noVNC) and whatever carries its bytes:
 * the extension host (VS Code webview postMessage) or the `sandbox desktop` server.
 */

/** From the viewer. */
export type ViewerMessage =
  | { type: 'ready' }
  /** Open (or reopen) the connection to the sandbox's VNC server. */
  | { type: 'connect' }
  | { type: 'data'; data: Uint8Array }
  | { type: 'close' }
  /** Text the desktop put on its clipboard. */
  | { type: 'clipboard'; text: string }
  | { type: 'viewOnly'; value: boolean }
  /** The viewer's answer to `capture`: a PNG data URL of what it shows. */
  | { type: 'captured'; id: number; dataUrl: string; width: number; height: number }
  | { type: 'status'; status: ViewerStatus }
  /** Show another sandbox's desktop in this panel. */
  | { type: 'switch'; id: string }
  /** Save a screenshot of the sandbox's desktop. */
  | { type: 'screenshot' }
  /** The page's Content Security Policy refused something: a bug of the viewer, logged by the host. */
  | { type: 'refused'; directive: string; blocked: string };

/** To the viewer. */
export type HostMessage =
  /** `sandboxId` is kept in the webview's state, so the panel comes back after a window reload. */
  | { type: 'init'; sandbox: string; sandboxId: string; viewOnly: boolean }
  /** Running desktops the panel can switch to. */
  | { type: 'sandboxes'; current: string; sandboxes: Array<{ id: string; name: string }> }
  | { type: 'open' }
  | { type: 'data'; data: Uint8Array }
  /** The connection ended; `reason` says why in one sentence, `retry` whether the viewer should reconnect. */
  | { type: 'closed'; reason: string; retry: boolean }
  | { type: 'clipboard'; text: string }
  | { type: 'viewOnly'; value: boolean }
  | { type: 'capture'; id: number };

/** What the viewer shows, for the host to observe (tests and status). */
export interface ViewerStatus {
  state: 'connecting' | 'connected' | 'disconnected';
  viewOnly: boolean;
  width: number;
  height: number;
  message?: string;
}
