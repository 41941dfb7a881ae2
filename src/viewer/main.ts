/**
 * The desktop viewer: noVNC drawing a sandbox's desktop. It runs in a VS Code webview (bytes
 * travel by postMessage to the extension host, which pipes them into the sandbox's SSH
 * connection) or in a plain browser page served by `sandbox desktop` (bytes over a WebSocket
 * to that local server, which does the same). noVNC takes any object shaped like a WebSocket.
 */
import RFB from '@novnc/novnc';
import type { HostMessage, ViewerMessage, ViewerStatus } from './protocol';

interface VsCodeApi {
  postMessage(message: ViewerMessage): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

type ReadyState = 'connecting' | 'open' | 'closing' | 'closed';

/** A WebSocket look-alike whose bytes go wherever `send` says; what noVNC reads and writes. */
class BridgeSocket {
  binaryType = 'arraybuffer';
  protocol = '';
  readyState: ReadyState = 'connecting';
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: { data: ArrayBuffer }) => void) | null = null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;

  constructor(
    private readonly transmit: (data: Uint8Array) => void,
    private readonly shutdown: () => void,
  ) {}

  send(data: ArrayBuffer | Uint8Array): void {
    if (this.readyState !== 'open') return;
    this.transmit(data instanceof Uint8Array ? data.slice() : new Uint8Array(data.slice(0)));
  }

  close(): void {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.shutdown();
    this.onclose?.({ code: 1000, reason: '', wasClean: true });
  }

  opened(): void {
    this.readyState = 'open';
    this.onopen?.(new Event('open'));
  }

  received(data: Uint8Array): void {
    if (this.readyState !== 'open') return;
    const copy = new Uint8Array(data.byteLength);
    copy.set(data);
    this.onmessage?.({ data: copy.buffer });
  }

  ended(): void {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.onclose?.({ code: 1006, reason: '', wasClean: false });
  }
}

const screenElement = document.getElementById('screen')!;
const statusElement = document.getElementById('status')!;
const nameElement = document.getElementById('sandbox-name')!;
const viewOnlyButton = document.getElementById('view-only') as HTMLButtonElement;
const ctrlAltDelButton = document.getElementById('ctrl-alt-del') as HTMLButtonElement;
const screenshotButton = document.getElementById('screenshot') as HTMLButtonElement;
const switcher = document.getElementById('switcher') as HTMLSelectElement;
const config = JSON.parse(document.getElementById('viewer-config')!.textContent ?? '{}') as {
  transport: 'vscode' | 'websocket';
  sandbox: string;
  viewOnly: boolean;
  websocketPath?: string;
};

const vscode = config.transport === 'vscode' ? acquireVsCodeApi() : undefined;
let viewOnly = config.viewOnly;
let rfb: RFB | undefined;
let bridge: BridgeSocket | undefined;
let reconnectTimer: number | undefined;
let state: ViewerStatus['state'] = 'connecting';
let message: string | undefined;

function post(viewerMessage: ViewerMessage): void {
  vscode?.postMessage(viewerMessage);
}

function report(): void {
  const canvas = screenElement.querySelector('canvas');
  const status: ViewerStatus = { state, viewOnly, width: canvas?.width ?? 0, height: canvas?.height ?? 0, message };
  statusElement.textContent =
    message ?? (state === 'connected' ? (viewOnly ? 'Watching (view only)' : 'Connected') : state === 'connecting' ? 'Connecting…' : 'Disconnected');
  statusElement.dataset.state = state;
  document.body.dataset.state = state;
  post({ type: 'status', status });
}

function applyViewOnly(value: boolean): void {
  viewOnly = value;
  if (rfb) rfb.viewOnly = value;
  viewOnlyButton.setAttribute('aria-pressed', String(value));
  viewOnlyButton.textContent = value ? 'View only: on' : 'View only: off';
  ctrlAltDelButton.disabled = value;
  document.body.dataset.viewOnly = String(value);
  report();
}

/** A new connection: over postMessage in VS Code, over a WebSocket in a browser. */
function connect(): void {
  window.clearTimeout(reconnectTimer);
  rfb?.disconnect();
  rfb = undefined;
  state = 'connecting';
  message = undefined;
  report();
  let channel: BridgeSocket | WebSocket;
  if (vscode) {
    bridge = new BridgeSocket(
      (data) => post({ type: 'data', data }),
      () => post({ type: 'close' }),
    );
    channel = bridge;
    post({ type: 'connect' });
  } else {
    const url = new URL(config.websocketPath ?? 'vnc', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    channel = new WebSocket(url, 'binary');
  }
  const created = new RFB(screenElement, channel as unknown as WebSocket, { shared: true });
  rfb = created;
  created.scaleViewport = true;
  created.resizeSession = false;
  created.viewOnly = viewOnly;
  created.focusOnClick = true;
  created.addEventListener('connect', () => {
    if (rfb !== created) return;
    state = 'connected';
    report();
  });
  created.addEventListener('disconnect', (event: Event) => {
    if (rfb !== created) return;
    // Spent: noVNC refuses a second disconnect of the same object.
    rfb = undefined;
    state = 'disconnected';
    const clean = (event as CustomEvent<{ clean: boolean }>).detail?.clean;
    message ??= clean ? 'Disconnected.' : 'The connection to the desktop dropped; reconnecting…';
    report();
    // A browser page has no host to tell it when to retry: it tries again on its own.
    if (!vscode) reconnectTimer = window.setTimeout(connect, 2000);
  });
  created.addEventListener('clipboard', (event: Event) => {
    const text = (event as CustomEvent<{ text: string }>).detail.text;
    if (vscode) post({ type: 'clipboard', text });
    else void navigator.clipboard?.writeText(text).catch(() => undefined);
  });
  created.addEventListener('desktopname', (event: Event) => {
    document.title = `${config.sandbox}: ${(event as CustomEvent<{ name: string }>).detail.name}`;
  });
}

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const hostMessage = event.data;
  switch (hostMessage.type) {
    case 'init':
      vscode?.setState({ sandboxId: hostMessage.sandboxId });
      nameElement.textContent = hostMessage.sandbox;
      config.sandbox = hostMessage.sandbox;
      applyViewOnly(hostMessage.viewOnly);
      connect();
      break;
    case 'open':
      bridge?.opened();
      break;
    case 'data':
      bridge?.received(hostMessage.data);
      break;
    case 'closed':
      // The host's word is the last: a retry planned after an earlier drop is dropped with it.
      window.clearTimeout(reconnectTimer);
      message = hostMessage.reason;
      bridge?.ended();
      state = 'disconnected';
      if (hostMessage.retry) reconnectTimer = window.setTimeout(connect, 2000);
      report();
      break;
    case 'clipboard':
      rfb?.clipboardPasteFrom(hostMessage.text);
      break;
    case 'viewOnly':
      applyViewOnly(hostMessage.value);
      break;
    case 'capture': {
      const canvas = screenElement.querySelector('canvas');
      post({ type: 'captured', id: hostMessage.id, dataUrl: canvas?.toDataURL('image/png') ?? '', width: canvas?.width ?? 0, height: canvas?.height ?? 0 });
      break;
    }
    case 'sandboxes':
      switcher.replaceChildren(
        ...hostMessage.sandboxes.map((sandbox) => {
          const option = document.createElement('option');
          option.value = sandbox.id;
          option.textContent = sandbox.name;
          option.selected = sandbox.id === hostMessage.current;
          return option;
        }),
      );
      switcher.hidden = hostMessage.sandboxes.length < 2;
      break;
  }
});

viewOnlyButton.addEventListener('click', () => {
  applyViewOnly(!viewOnly);
  post({ type: 'viewOnly', value: viewOnly });
});
ctrlAltDelButton.addEventListener('click', () => rfb?.sendCtrlAltDel());
switcher.addEventListener('change', () => post({ type: 'switch', id: switcher.value }));
screenshotButton.addEventListener('click', () => {
  if (vscode) {
    post({ type: 'screenshot' });
    return;
  }
  const canvas = screenElement.querySelector('canvas');
  if (!canvas) return;
  const link = document.createElement('a');
  link.download = `${config.sandbox}.png`;
  link.href = canvas.toDataURL('image/png');
  link.click();
});
// In a browser, text copied here can be sent to the desktop's clipboard on focus.
window.addEventListener('focus', () => {
  if (vscode || !rfb || viewOnly) return;
  void navigator.clipboard
    ?.readText()
    .then((text) => text && rfb?.clipboardPasteFrom(text))
    .catch(() => undefined);
});

// Anything the strict CSP refuses is a bug of this page: the host logs it.
document.addEventListener('securitypolicyviolation', (event) => post({ type: 'refused', directive: event.effectiveDirective, blocked: event.blockedURI }));

applyViewOnly(viewOnly);
if (vscode) post({ type: 'ready' });
else connect();
