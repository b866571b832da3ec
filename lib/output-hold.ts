/**
 * Output held back for a slow reader, compactly (as uWebSockets keeps its own
 * backpressure buffer). Once a socket's write queue is past its high-water
 * mark, every further `socket.write` would add a queue entry and keep its
 * Buffer alive whole: a 67-byte pong costs ~200 bytes of entries and objects,
 * a slab run or a view of a socket read pins the 64 KiB it was cut from. So
 * while the queue is full, lib/websocket.ts appends here instead: small
 * pieces and wasteful views are copied back to back into owned chunks, large
 * owned Buffers are kept by reference, and the lot is handed to the socket in
 * a few writes on 'drain'. Memory per slow reader stays close to the bytes it
 * is owed (issue 13 item 4).
 */

/** Owned chunks grow with what is held, up to this size (slack is at most one chunk). */
const CHUNK_MAX = 64 * 1024;
const CHUNK_MIN = 1024;
/** Pieces at least this large whose backing store they mostly use are kept by reference, not copied. */
const KEEP_MIN = 1024;

export class OutputHold {
  /** Bytes held. */
  bytes = 0;
  private list: Buffer[] = [];
  // The owned chunk small pieces are copied into, and its run not yet in `list`.
  private chunk: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;

  /** Append a batch of frames, in order. */
  add(out: Buffer[]): void {
    for (let i = 0; i < out.length; i++) {
      const piece = out[i];
      const length = piece.length;
      if (length === 0) continue;
      this.bytes += length;
      // Kept as is when it owns (nearly) all of its memory: copying would only cost time.
      if (length >= KEEP_MIN && piece.buffer.byteLength - length <= length >>> 1) {
        this.closeRun();
        this.list.push(piece);
        continue;
      }
      if (length > CHUNK_MAX) {
        // A large view of a larger store: an exact copy frees the store.
        this.closeRun();
        const copy = Buffer.allocUnsafeSlow(length);
        piece.copy(copy, 0);
        this.list.push(copy);
        continue;
      }
      let chunk = this.chunk;
      if (chunk === null || chunk.length - this.runEnd < length) {
        this.closeRun();
        // Grow with the backlog: a little held costs a little, a lot costs at most 64 KiB of slack.
        chunk = this.chunk = Buffer.allocUnsafeSlow(Math.min(CHUNK_MAX, Math.max(length, this.bytes, CHUNK_MIN)));
        this.runStart = this.runEnd = 0;
      }
      piece.copy(chunk, this.runEnd);
      this.runEnd += length;
    }
  }

  /** Everything held, in order, for the socket; the hold is empty afterwards. */
  take(): Buffer[] {
    this.closeRun();
    const list = this.list;
    this.list = [];
    this.bytes = 0;
    return list;
  }

  /** Turn the bytes copied since the last run into one queued view of the chunk. */
  private closeRun(): void {
    if (this.runEnd === this.runStart) return;
    this.list.push((this.chunk as Buffer).subarray(this.runStart, this.runEnd));
    this.runStart = this.runEnd;
  }
}
