/**
 * Write batching for WebSockets (as uWebSockets' cork buffer): frames queued
 * during one event-loop job leave in one socket write at the end of the job,
 * whatever sent them (handlers, a publish to many sockets, a sweep). A socket
 * with output joins the dirty list once; one microtask writes the list.
 */
import type { Socket } from 'node:net';
import { joinChunks } from './connection';

/**
 * Below this many bytes, a batch of frames is joined into one write. Also the
 * batch a send may add to and still report SUCCESS (uWebSockets' cork buffer
 * is 16 KiB too).
 */
export const JOIN_LIMIT = 16 * 1024;

/** What the batch writes at the end of the job. */
export interface Flushable {
  flush(): void;
}

// Connections with output waiting, written at the end of the current job.
let dirty: Flushable[] = [];
let flushScheduled = false;

function flushDirty(): void {
  flushScheduled = false;
  const list = dirty;
  dirty = [];
  for (let i = 0; i < list.length; i++) list[i].flush();
}

/** Write `ws` at the end of the current job (the caller adds it once per batch). */
export function flushLater(ws: Flushable): void {
  dirty.push(ws);
  if (!flushScheduled) {
    flushScheduled = true;
    queueMicrotask(flushDirty);
  }
}

/**
 * Write one batch of `bytes` bytes: one buffer as it is, many small frames
 * joined by one copy (cheaper than a stream write per frame), many large ones
 * as one vectored write. `done` (if any) runs after the last.
 */
export function writeBatch(socket: Socket, out: Buffer[], bytes: number, done: ((err?: Error | null) => void) | undefined): void {
  if (out.length === 1) {
    socket.write(out[0], done);
  } else if (bytes <= JOIN_LIMIT) {
    socket.write(joinChunks(out, bytes), done);
  } else {
    writeAll(socket, out, done);
  }
}

/** Write several Buffers as one vectored write; `done` (if any) runs after the last. */
export function writeAll(socket: Socket, out: Buffer[], done: ((err?: Error | null) => void) | undefined): void {
  if (out.length === 0) return;
  socket.cork();
  const last = out.length - 1;
  for (let i = 0; i < last; i++) socket.write(out[i]);
  socket.write(out[last], done);
  socket.uncork();
}
