/**
 * How raw sockets reach an App: its own listener (`app.listen`: a TCP port or
 * a Unix domain socket, plain or TLS), or the `upgrade` event of a foreign
 * `node:http` server (`app.handleUpgrade`), whose parsed request becomes the
 * head an UpgradeSession answers.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { HttpRequestHead } from '../http/head';
import { checkOptionKeys } from '../option-check';
import { UsageError } from '../../errors';
import type { ListenOptions } from './options';

/** What a listener needs of its App. */
export interface ListenerOwner {
  /** A new raw connection. */
  accept(socket: net.Socket): void;
  reportError(ws: null, err: Error): void;
}

/** Where to listen, read from listen()'s arguments. */
export interface ListenTarget {
  port: number | undefined;
  host: string | undefined;
  path: string | undefined;
  callback: ((bound: any) => void) | undefined;
  reusePort: boolean;
}

/** Whether this Node can listen with `reusePort` (added in v23.1.0 and v22.12.0, nodejs/node#55408). */
export function nodeHasReusePort(version: string = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** Platforms whose kernel balances SO_REUSEPORT listeners (Node raises an error elsewhere). */
const REUSEPORT_PLATFORMS = new Set(['linux', 'freebsd', 'sunos', 'aix']);

/**
 * Read listen()'s arguments: `(port?, host?, callback?)`, `(port, callback)`,
 * `({ port, host }, callback?)`, `(path | { path }, callback?)`. A wrong kind
 * of argument comes back as the UsageError to reject with; an unknown key of
 * an options object throws one.
 */
export function listenTarget(where: number | string | ListenOptions, host: string | ((port: any) => void) | undefined, callback: ((port: any) => void) | undefined): ListenTarget | UsageError {
  if (typeof host === 'function') {
    callback = host;
    host = undefined;
  }
  let port: number | undefined;
  let path: string | undefined;
  let reusePort = false;
  if (typeof where === 'number') port = where;
  else if (typeof where === 'string') {
    // A string of digits is a port (process.env.PORT), as node:net reads it.
    if (/^[0-9]+$/.test(where)) port = Number(where);
    else path = where;
  } else if (where !== null && typeof where === 'object') {
    checkOptionKeys(where, 'app.listen()', { port: true, host: true, path: true, reusePort: true });
    if (where.path !== undefined) path = where.path;
    else {
      port = where.port ?? 8000;
      host = where.host;
      if (where.reusePort === true) {
        if (!nodeHasReusePort()) return new UsageError(`listen({ reusePort }) needs Node >= 22.12 or >= 23.1 (this is ${process.version}); use node:cluster (examples/cluster.ts)`);
        if (!REUSEPORT_PLATFORMS.has(process.platform)) return new UsageError(`listen({ reusePort }) is not supported on ${process.platform}`);
        reusePort = true;
      }
    }
  } else {
    return new UsageError('listen() takes a port, a Unix socket path or { port, host } / { path }');
  }
  if (path !== undefined && (typeof path !== 'string' || path.length === 0)) return new UsageError('listen(): the Unix socket path must be a non-empty string');
  return { port, host, path, callback, reusePort };
}

const kOwner = Symbol('xyra.app');
type OwnedServer = net.Server & { [kOwner]?: ListenerOwner };

/** A net (or, with `tlsOptions`, tls) server whose connections go to `owner.accept`. */
export function createListener(owner: ListenerOwner, tlsOptions: tls.TlsOptions | undefined, handshakeTimeout: number): net.Server {
  const server: OwnedServer = tlsOptions
    ? // No allowHalfOpen over TLS: a peer that aborts the TLS handshake (an
      // untrusted certificate) half-closes, and the socket would linger.
      tls.createServer({ handshakeTimeout, ...tlsOptions }, onRawConnection)
    : net.createServer({ allowHalfOpen: true, noDelay: true }, onRawConnection);
  // A failed TLS handshake never becomes a connection of ours: drop it.
  if (tlsOptions) server.on('tlsClientError', onTlsClientError);
  server[kOwner] = owner;
  return server;
}

/**
 * Listen at `target`. Resolves with the bound port (or the path) after the
 * target's callback ran; a listen failure (EADDRINUSE, EACCES) calls
 * `failed` and rejects, once: the lasting error handler (reportError) is
 * attached only once listening succeeded.
 */
export function bindListener(server: net.Server, target: ListenTarget, backlog: number, failed: () => void): Promise<number | string> {
  const { port, host, path, callback, reusePort } = target;
  return new Promise<number | string>((resolve, reject) => {
    const onError = (err: Error) => {
      failed();
      reject(err);
    };
    server.once('error', onError);
    // reusePort is in Node >= 22.12's ListenOptions, not in @types/node 20's.
    const options: net.ListenOptions & { reusePort?: boolean } = path !== undefined ? { path, backlog } : reusePort ? { port, host, backlog, reusePort } : { port, host, backlog };
    server.listen(options, () => {
      server.off('error', onError);
      server.on('error', onServerError);
      const addr = server.address();
      const bound = path !== undefined ? path : typeof addr === 'object' && addr !== null ? addr.port : (port as number);
      if (callback) callback(bound);
      resolve(bound);
    });
  });
}

function onRawConnection(this: OwnedServer, socket: net.Socket): void {
  this[kOwner]!.accept(socket);
}

function onTlsClientError(_err: Error, socket: net.Socket): void {
  socket.destroy();
}

function onServerError(this: OwnedServer, err: Error): void {
  // A listener error (EMFILE, ...) must not crash the process.
  this[kOwner]?.reportError(null, err);
}

/** The head of a request node:http parsed (`handleUpgrade`), as the App's own parser gives it. */
export function headFromIncoming(req: IncomingMessage): HttpRequestHead {
  const rawHeaders = req.rawHeaders.slice();
  // No prototype, as the App's own parser gives: `constructor` or `__proto__` are plain header names.
  const headers: Record<string, string> = Object.create(null);
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = rawHeaders[i].toLowerCase();
    headers[k] = k in headers ? `${headers[k]}, ${rawHeaders[i + 1]}` : rawHeaders[i + 1];
  }
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    versionMajor: req.httpVersionMajor,
    versionMinor: req.httpVersionMinor,
    headers,
    rawHeaders,
  };
}
