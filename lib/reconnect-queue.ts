/**
 * The messages a ReconnectingWebSocket (lib/reconnect.ts) accepts while it
 * has no connection: queued up to `maxQueue` bytes, sent first and in order
 * on the next connection, or handed back to be reported as dropped.
 */
import type { WebSocket, SendData } from './websocket';
import { SendStatus, toBuffer } from './websocket';

/** A message sent while disconnected. Binary data is copied: the caller may reuse its buffer. */
export interface Queued {
  data: string | Buffer;
  binary: boolean;
  compress: boolean | undefined;
}

/** What sending the queue on a new connection gave. */
export interface Replayed {
  /** Some message answered BACKPRESSURE: that connection's 'drain' follows. */
  backpressure: boolean;
  /** Messages the connection did not take (DROPPED), in order, or null. */
  dropped: Queued[] | null;
}

/** Messages waiting for the next connection, bounded in bytes. */
export class OfflineQueue {
  private items: Queued[] = [];
  /** Payload bytes queued. */
  bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Queue a message: BACKPRESSURE (queued; 'drain' is owed) or DROPPED (over the byte bound). */
  push(data: SendData, binary: boolean, compress: boolean | undefined): SendStatus {
    let item: string | Buffer;
    let length: number;
    if (typeof data === 'string') {
      item = data;
      length = Buffer.byteLength(data, 'utf8');
    } else {
      const view = toBuffer(data);
      length = view.length;
      if (this.bytes + length > this.maxBytes) return SendStatus.DROPPED;
      item = Buffer.from(view);
    }
    if (this.bytes + length > this.maxBytes) return SendStatus.DROPPED;
    this.items.push({ data: item, binary, compress });
    this.bytes += length;
    return SendStatus.BACKPRESSURE;
  }

  /** Send everything queued on `ws`, in order, in one corked batch; the queue is empty after. */
  sendOn(ws: WebSocket): Replayed {
    const result: Replayed = { backpressure: false, dropped: null };
    if (this.items.length === 0) return result;
    const queue = this.takeAll();
    ws.cork(() => {
      for (let i = 0; i < queue.length; i++) {
        const m = queue[i];
        const status = ws.send(m.data, m.binary, m.compress);
        if (status === SendStatus.BACKPRESSURE) result.backpressure = true;
        else if (status === SendStatus.DROPPED) (result.dropped ??= []).push(m);
      }
    });
    return result;
  }

  /** Empty the queue and give what was in it (to report as dropped). */
  takeAll(): Queued[] {
    const queue = this.items;
    this.items = [];
    this.bytes = 0;
    return queue;
  }
}
