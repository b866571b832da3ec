/**
 * The peer's address and port, read once per connection without the object
 * Node keeps per socket for `socket.remoteAddress`.
 */
import type { Socket } from 'node:net';

/** Result of getpeername, reused: the socket's own getter caches an object per socket. */
const peer: { address?: string; port?: number } = {};
/** Last address seen: connections from one host share one string. */
let lastAddress = '';

/** The peer's address and port, read into one shared object (copy them out before the next call). */
export function readPeer(socket: Socket): { readonly address?: string; readonly port?: number } {
  peer.address = undefined;
  peer.port = undefined;
  // Node's socket.remoteAddress keeps a { address, family, port } object on
  // the socket for its lifetime (~100 bytes per idle connection); the handle's
  // getpeername fills ours instead. TLS handles proxy it to the TCP handle.
  const handle = (socket as unknown as { _handle?: { getpeername?(out: object): number } | null })._handle;
  if (handle == null || typeof handle.getpeername !== 'function' || handle.getpeername(peer) !== 0) {
    peer.address = socket.remoteAddress;
    peer.port = socket.remotePort;
  }
  const address = peer.address ?? '';
  if (address === lastAddress) peer.address = lastAddress;
  else lastAddress = address;
  return peer;
}
