/**
 * Messages a client WebSocket received while nobody listened for them.
 *
 * `await connect(url)` resolves before the caller can attach `on('message')`,
 * and the server often speaks first (a welcome sent in `open`). A client with
 * no `message` callback and no 'message' listener therefore keeps what arrives,
 * in order, and hands it to the first listener attached (issue 12.3). The
 * queue is bounded: past `limit` bytes the socket stops reading (TCP flow
 * control reaches the server), it never drops. A close that arrives while
 * messages are held waits behind them.
 *
 * A flat array of (message, opcode, size) triples read from a moving head: no
 * object per message, no O(n) shift.
 */
import type { OpCode } from '../frame/opcode';

/** Rough cost of one held entry beyond its payload (array slots, Buffer/string header). */
export const HELD_ENTRY_OVERHEAD = 64;

export class HeldMessages {
  /** message, opcode, size, message, opcode, size, ... from index `head`. */
  private items: Array<string | Buffer | number> = [];
  private head = 0;
  /** Opcode of the message last returned by shift(). */
  takenOpcode: OpCode = 0 as OpCode;
  /** Payload bytes plus per-entry overhead held now. */
  bytes = 0;
  /** A close is waiting behind the messages. */
  closeHeld = false;
  closeCode = 0;
  closeReason = '';
  /** When the close was held (clock ms), for the closeTimeout fallback. */
  closeSince = 0;
  /** A delivery is scheduled (process.nextTick). */
  scheduled = false;

  get count(): number {
    return (this.items.length - this.head) / 3;
  }

  /**
   * Keep a message. Binary data that is a small view of a larger store is
   * copied: the parser hands out views of the socket's reads, and a 1-byte
   * view would otherwise pin a whole 64 KiB read while it waits. (Up to one
   * 8 KiB pool slab of slack is fine: Node's small Buffers share those.)
   */
  push(message: string | Buffer, opcode: OpCode, size: number): void {
    if (typeof message !== 'string' && message.buffer.byteLength > message.length + 8192) message = Buffer.from(message);
    this.items.push(message, opcode, size);
    this.bytes += size + HELD_ENTRY_OVERHEAD;
  }

  /** Next message (call only when count > 0); `takenOpcode` has its opcode afterwards. */
  shift(): string | Buffer {
    const items = this.items;
    const message = items[this.head] as string | Buffer;
    this.takenOpcode = items[this.head + 1] as OpCode;
    this.bytes -= (items[this.head + 2] as number) + HELD_ENTRY_OVERHEAD;
    items[this.head] = '';
    this.head += 3;
    if (this.head === items.length) {
      this.items = [];
      this.head = 0;
    }
    return message;
  }

  /** Forget every held message (the socket closed and nobody ever listened). */
  clear(): number {
    const n = this.count;
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    return n;
  }
}
