/**
 * Socket events reach their connection through a back-reference on the
 * socket, with module-level listeners attached once per socket (as ws does):
 * no closures per connection, and no listener churn when a raw connection
 * becomes a WebSocket (removing listeners turns the socket's listener map
 * into a slow dictionary and costs memory per connection).
 */
import type { Socket } from 'node:net';

/** Whoever owns the socket right now: an upgrade session or a WebSocket. */
export interface SocketEvents {
  socketData(chunk: Buffer): void;
  socketEnd(): void;
  socketClose(): void;
  socketError(err: Error): void;
  socketDrain(): void;
}

const kOwner = Symbol('xyra.owner');
interface OwnedSocket extends Socket {
  [kOwner]: SocketEvents;
}

/** Attach the listeners (once per socket) and set the first owner. */
export function attachSocket(socket: Socket, owner: SocketEvents): void {
  const s = socket as OwnedSocket;
  const had = s[kOwner] !== undefined;
  s[kOwner] = owner;
  if (had) return;
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onClose);
  socket.on('error', onError);
  socket.on('drain', onDrain);
}

/** The socket's owner now (an upgrade session or a WebSocket), if listeners are attached. */
export function socketOwner(socket: Socket): SocketEvents | undefined {
  return (socket as Partial<OwnedSocket>)[kOwner];
}

/** Hand the socket to a new owner; events from now on go there. */
export function setSocketOwner(socket: Socket, owner: SocketEvents): void {
  (socket as OwnedSocket)[kOwner] = owner;
}

function onData(this: OwnedSocket, chunk: Buffer): void {
  this[kOwner].socketData(chunk);
}
function onEnd(this: OwnedSocket): void {
  this[kOwner].socketEnd();
}
function onClose(this: OwnedSocket): void {
  this[kOwner].socketClose();
}
function onError(this: OwnedSocket, err: Error): void {
  this[kOwner].socketError(err);
}
function onDrain(this: OwnedSocket): void {
  this[kOwner].socketDrain();
}
