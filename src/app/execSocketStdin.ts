import { Transform } from 'node:stream';

/**
 * A client's stdin as the command reads it, held to a window: the client sends at most `window`
 * bytes the command has not taken, and hears of each piece taken (`onTaken`) so it may send as
 * much again. Bytes pass to the reading side only as the command makes room there, so what waits
 * here stays under the window plus one stream buffer, whatever the client pipes in.
 */
export class ExecSocketStdin {
  /** What the command reads. */
  readonly stream: Transform;
  private outstanding = 0;

  constructor(
    private readonly window: number,
    onTaken: (bytes: number) => void,
  ) {
    this.stream = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        // Called once the reading side has room for the piece before it: this one is taken now.
        this.outstanding -= chunk.length;
        callback(null, chunk);
        onTaken(chunk.length);
      },
    });
  }

  /** Takes a piece from the client; false when it is past the window (a broken or hostile client). */
  receive(piece: Buffer): boolean {
    if (this.stream.destroyed || this.stream.writableEnded) return true;
    if (this.outstanding + piece.length > this.window) return false;
    this.outstanding += piece.length;
    this.stream.write(piece);
    return true;
  }

  end(): void {
    if (!this.stream.destroyed) this.stream.end();
  }

  destroy(): void {
    this.stream.destroy();
  }
}
