/** The desktop sandbox's side of the desktop benchmarks: a drawn desktop, a window to flash, a raw RFB client. */
import Dockerode from 'dockerode';
import { SandboxController } from '../src/core/controller';
import { VNC_PORT, captureDesktop } from '../src/core/desktop';
import { LABELS } from '../src/core/labels';
import { StateStore } from '../src/core/store/stateStore';

import { GEOMETRY, STEP_TIMEOUT_MS, FLASH_COLOURS } from './desktopConstants';
import { sleep, distinctColours, hex } from './desktopBrowser';
/** A desktop that has drawn its panel and icons, not just a black screen (it starts with the sandbox). */
export async function waitForDrawnDesktop(controller: SandboxController, ref: string): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const frame = await captureDesktop(controller, ref).catch(() => undefined);
    if (frame && distinctColours(frame.rgb) > 20) return;
    if (Date.now() > deadline) throw new Error('the desktop was not drawn in time');
    await sleep(500);
  }
}

/**
 * A big xterm whose background the benchmark flips with the OSC 11 escape written to its tty:
 * one exec repaints most of a window of about 960x580. Returns that tty and the window's centre.
 */
export async function startFlashWindow(controller: SandboxController, ref: string): Promise<{ tty: string; x: number; y: number }> {
  const script = [
    'export DISPLAY=:1',
    'rm -f /tmp/flash-tty',
    // The pointer goes to the edge of the screen, away from the window.
    `xdotool mousemove ${GEOMETRY.width - 2} ${Math.floor(GEOMETRY.height / 2)}`,
    `setsid xterm -T bench-flash -fa 'DejaVu Sans Mono' -fs 14 -geometry 80x24+60+80 -e sh -c 'tty > /tmp/flash-tty; exec sleep infinity' </dev/null >/dev/null 2>&1 &`,
    'for _ in $(seq 300); do [ -s /tmp/flash-tty ] && xwininfo -name bench-flash >/dev/null 2>&1 && break; sleep 0.1; done',
    'sleep 1', // mapped and placed by the window manager
    'cat /tmp/flash-tty',
    'xwininfo -name bench-flash',
  ].join('\n');
  const result = await controller.exec(ref, { command: ['sh', '-c', script], timeoutMs: STEP_TIMEOUT_MS });
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(-?\\d+)`).exec(result.stdout)?.[1]);
  const tty = result.stdout.split('\n')[0]!.trim();
  const [left, top, width, height] = [field('Absolute upper-left X'), field('Absolute upper-left Y'), field('Width'), field('Height')];
  if (!tty.startsWith('/dev/') || [left, top, width, height].some((value) => Number.isNaN(value))) {
    throw new Error(`the flash window did not start: ${result.stdout}${result.stderr}`);
  }
  return { tty, x: Math.round(left + width / 2), y: Math.round(top + height / 2) };
}

/**
 * A raw RFB client on the sandbox's own VNC port (Python, which the sandbox image has):
 * from writing the escape to the flash window's tty until the VNC server starts the update that
 * covers the window's centre. Prints one time in milliseconds a line.
 */
export const RAW_RFB_PROBE = String.raw`import select, socket, struct, sys, time, random
tty, x, y, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
colours = sys.argv[5:]
vnc = socket.create_connection(('127.0.0.1', ${VNC_PORT}))
vnc.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

def read(n):
    data = b''
    while len(data) < n:
        chunk = vnc.recv(n - len(data))
        if not chunk:
            raise EOFError('the VNC server hung up')
        data += chunk
    return data

read(12)
vnc.sendall(b'RFB 003.008\n')
read(read(1)[0])
vnc.sendall(b'\x01')  # security type None
read(4)
vnc.sendall(b'\x01')  # shared
width, height = struct.unpack('>HH', read(4))
read(16)
read(struct.unpack('>I', read(4))[0])
vnc.sendall(struct.pack('>BBHi', 2, 0, 1, 0))  # raw encoding only: the simplest to read

def request(incremental=1):
    vnc.sendall(struct.pack('>BBHHHH', 3, incremental, 0, 0, width, height))

# When the next update started, and whether it covers (x, y); other messages are skipped.
def next_update():
    while True:
        kind = read(1)[0]
        if kind == 0:
            break
        if kind == 1:  # colour map entries
            read(3)
            read(6 * struct.unpack('>H', read(2))[0])
        elif kind == 3:  # server cut text
            read(3)
            read(struct.unpack('>I', read(4))[0])
    started = time.time()
    read(1)
    covers = False
    for _ in range(struct.unpack('>H', read(2))[0]):
        left, top, w, h, _encoding = struct.unpack('>HHHHi', read(12))
        read(w * h * 4)
        covers = covers or (left <= x < left + w and top <= y < top + h)
    return started, covers

request(0)
next_update()
for i in range(count):
    time.sleep(0.15 + random.random() * 0.25)
    request()
    # Whatever else changed meanwhile (the panel's clock) is read first.
    while select.select([vnc], [], [], 0.05)[0]:
        next_update()
        request()
    changed = time.time()
    with open(tty, 'w') as terminal:
        terminal.write('\033]11;%s\007' % colours[i % len(colours)])
    while True:
        started, covers = next_update()
        if covers:
            break
        request()
    print('%.1f' % ((started - changed) * 1000), flush=True)
`;

export async function vncServerLatency(
  controller: SandboxController,
  ref: string,
  flash: { tty: string; x: number; y: number },
  firstColour: number,
  count: number,
): Promise<number[]> {
  const colours = Array.from({ length: FLASH_COLOURS.length }, (_, i) => hex(FLASH_COLOURS[(firstColour + i) % FLASH_COLOURS.length]!));
  const result = await controller.exec(ref, {
    command: ['python3', '-', flash.tty, String(flash.x), String(flash.y), String(count), ...colours],
    stdin: RAW_RFB_PROBE,
    timeoutMs: STEP_TIMEOUT_MS * 2,
  });
  const times = result.stdout.split('\n').filter(Boolean).map(Number);
  if (result.exitCode !== 0 || times.length !== count) throw new Error(`the raw RFB client failed: ${result.stderr}`);
  return times;
}

/** Containers of this state dir's owner that a failed step left behind. */
export async function removeLeftovers(store: StateStore): Promise<void> {
  const docker = new Dockerode();
  const ownerId = await store.ownerId();
  for (const container of await docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${ownerId}`] } })) {
    await docker
      .getContainer(container.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}
