/**
 * The upgrade hook's view of an upgrade (RFC 6455 4.2.1, before our 101):
 * the request it reads (`req`, with an abort signal) and the answer it gives
 * (`res.accept` / `res.reject`).
 */
import type { Socket } from 'node:net';
import type { HttpRequestHead } from '../http/head';
import { UsageError } from '../../errors';

/** The upgrade request as an upgrade hook sees it. */
export interface UpgradeRequest {
  method: string;
  /** Request target as sent: path and query. */
  url: string;
  path: string;
  query: Record<string, string>;
  params: Record<string, string>;
  /** Header names in lower case. */
  headers: Record<string, string>;
  origin: string | undefined;
  /** Subprotocols the client offered, in its order of preference. */
  protocols: string[];
  remoteAddress: string;
  remotePort: number;
  getHeader(name: string): string | undefined;
  /**
   * Fires when the decision is no longer wanted: the client went away (closed,
   * reset or half-closed the connection) or `upgradeTimeout` passed. Pass it
   * to `fetch` or a database query. Made on first read.
   */
  readonly signal: AbortSignal;
  /** True once `signal` fired. */
  readonly aborted: boolean;
}

/** How an upgrade hook answers. */
export interface UpgradeResponse<UserData = any> {
  /** User data attached to the socket (`ws.data`). */
  data: UserData | undefined;
  /** Subprotocol to answer with; must be one the client offered. */
  protocol: string | undefined;
  /** Extra response headers for the 101. */
  headers: Array<[string, string]>;
  /**
   * Accept, optionally setting data and protocol. A protocol the client did
   * not offer (`req.protocols`) throws a UsageError here.
   */
  accept(data?: UserData, protocol?: string): void;
  /** Refuse with an HTTP status (default 403), a short body and headers. */
  reject(status?: number, body?: string, headers?: Record<string, string>): void;
  readonly decided: boolean;
}

/** What an upgrade request's `signal` and `aborted` read: the session running the hook. */
export interface HookAbort {
  hookSignal(): AbortSignal;
  readonly hookAborted: boolean;
}

/**
 * The `req` an upgrade hook gets: a class with accessors on its prototype, so
 * making one per handshake allocates one object and no closures.
 */
class UpgradeRequestImpl implements UpgradeRequest {
  readonly #socket: Socket;
  readonly #session: HookAbort;
  constructor(
    readonly method: string,
    readonly url: string,
    readonly path: string,
    readonly query: Record<string, string>,
    readonly params: Record<string, string>,
    readonly headers: Record<string, string>,
    readonly origin: string | undefined,
    readonly protocols: string[],
    socket: Socket,
    session: HookAbort,
  ) {
    this.#socket = socket;
    this.#session = session;
  }
  // Read on demand: reading the address makes Node keep an object per socket.
  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? '';
  }
  get remotePort(): number {
    return this.#socket.remotePort ?? 0;
  }
  getHeader(name: string): string | undefined {
    return this.headers[name.toLowerCase()];
  }
  get signal(): AbortSignal {
    return this.#session.hookSignal();
  }
  get aborted(): boolean {
    return this.#session.hookAborted;
  }
}

/** The `req` an upgrade hook gets. */
export function makeUpgradeRequest(
  head: HttpRequestHead,
  path: string,
  query: Record<string, string>,
  params: Record<string, string>,
  origin: string | undefined,
  protocols: string[],
  socket: Socket,
  session: HookAbort,
): UpgradeRequest {
  return new UpgradeRequestImpl(head.method, head.url, path, query, params, head.headers, origin, protocols, socket, session);
}

/** The `res` an upgrade hook gets; the session reads the decision from it. */
export class UpgradeResponseImpl implements UpgradeResponse {
  data: any = undefined;
  protocol: string | undefined = undefined;
  headers: Array<[string, string]> = [];
  rejected: { status: number; body: string; headers: Record<string, string> } | null = null;
  decided = false;
  /** The subprotocols the client offered (req.protocols). */
  constructor(private readonly offered: string[]) {}
  accept(data?: unknown, protocol?: string): void {
    // RFC 6455 4.2.2 (5.5): the server picks one of the client's subprotocols or none.
    // Misuse shows at the call, not as a silently dropped protocol.
    if (protocol !== undefined && protocol !== '' && !this.offered.includes(protocol)) {
      throw new UsageError(`res.accept(): subprotocol ${JSON.stringify(protocol)} was not offered by the client (req.protocols)`);
    }
    if (this.decided) return;
    this.decided = true;
    if (data !== undefined) this.data = data;
    if (protocol !== undefined) this.protocol = protocol;
  }
  reject(status = 403, body?: string, headers: Record<string, string> = {}): void {
    if (this.decided) return;
    this.decided = true;
    this.rejected = { status, body: body ?? '', headers };
  }
}

/** A hook that stopped because its signal fired rejects with an AbortError. */
export function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}
