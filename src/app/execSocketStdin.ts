import { Transform } from 'node:stream';
import { stdinCost } from '../core/execSocket/protocol';

/**
 * A client's stdin as the command reads it, held to a window: the client sends pieces worth at
 * most `window` (stdinCost: bytes plus a fixed cost per piece) that the command has not taken,
 * and hears of each piece taken (`onTaken`) so it may send as much again. Pieces pass to the
 * reading side only as the command makes room there, so what waits here stays under the window
 * plus one stream buffer, whatever the client pipes in.
 */
export class ExecSocketStdin {
  /** What the command reads. */
  readonly stream: Transform;
  private outstanding = 0;

  constructor(
    private readonly window: number,
    onTaken: (cost: number) => void,
  ) {
    this.stream = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        // Called once the reading side has room for the piece before it: this one is taken now.
        const cost = stdinCost(chunk.length);
        this.outstanding -= cost;
        callback(null, chunk);
        onTaken(cost);
      },
    });
  }

  /** Takes a piece from the client; false when it is past the window (a broken or hostile client). */
  receive(piece: Buffer): boolean {
    if (piece.length === 0 || this.stream.destroyed || this.stream.writableEnded) return true;
    const cost = stdinCost(piece.length);
    if (this.outstanding + cost > this.window) return false;
    this.outstanding += cost;
    // A copy: the piece is a view into the socket's read, which it would otherwise keep whole.
    this.stream.write(Buffer.from(piece));
    return true;
  }

  /** How much of the window is in use now, to say so when a client is cut off. */
  get inUse(): number {
    return this.outstanding;
  }

  end(): void {
    if (!this.stream.destroyed) this.stream.end();
  }

  destroy(): void {
    this.stream.destroy();
  }
}
