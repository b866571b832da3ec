/**
 * Closing a connection after its last HTTP answer (an error status, a
 * refused upgrade, `Connection: close`, or the end of keep-alive): the one
 * helper both the upgrade path and the HTTP side use.
 */
import type * as net from 'node:net';

/**
 * How long after our side ends a connection may linger, in ms, before it is
 * destroyed: a peer that neither reads the answer nor closes its half
 * (allowHalfOpen) holds a socket no longer than this.
 */
export const CLOSE_GRACE_MS = 2000;

/**
 * End our side (after `last`, if given) with errors silenced, destroy the
 * socket as soon as the peer ends its side too, and at the latest
 * {@link CLOSE_GRACE_MS} later. Module-level listeners: nothing is allocated
 * per call but the timer.
 */
export function closeGracefully(socket: net.Socket, last?: Buffer): void {
  socket.on('error', noop);
  socket.on('end', destroyThis);
  if (last !== undefined) socket.end(last);
  else socket.end();
  setTimeout(destroySocket, CLOSE_GRACE_MS, socket).unref();
}

function noop(): void {}

function destroyThis(this: net.Socket): void {
  this.destroy();
}

function destroySocket(socket: net.Socket): void {
  socket.destroy();
}
