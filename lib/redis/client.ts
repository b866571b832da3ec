/**
 * A structural adapter over the two Node Redis clients, `redis` (node-redis
 * 5/6) and `ioredis` (5.9/6): send a raw command with Buffer replies, open a
 * second connection for the blocking reader, and hear connection events.
 * Neither package is imported here at module load: `loadClient` requires one
 * lazily when the user gives a URL, and a user's own client is only looked at
 * through the few members below (the way socket.io's streams adapter wraps both).
 */
import { UsageError } from '../../frame/protocol-error';

/** One Redis connection as the bus sees it. */
export interface RedisConn {
  readonly library: 'redis' | 'ioredis';
  /** Connected and ready for commands. */
  isReady(): boolean;
  /**
   * Send one command; bulk strings come back as Buffers (binary payloads
   * survive). Rejects at once while not ready (no client-side offline queue).
   */
  call(args: Array<string | Buffer>): Promise<unknown>;
  /** A new connection of the same client and options; the bus owns and closes it. */
  duplicate(blocking: boolean): RedisConn;
  /** Start connecting when the client is not connected yet (errors go to the error listener). */
  connect(): void;
  /** Listen: `ready` after each (re)connect, `down` when the connection is lost, `error` for client errors. */
  on(event: 'ready' | 'down', fn: () => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  /** Close this connection (only for connections the bus owns). */
  close(): Promise<void>;
}

/** The members of a node-redis client the adapter uses. */
interface NodeRedisLike {
  sendCommand(args: ReadonlyArray<string | Buffer>, options?: object): Promise<unknown>;
  duplicate(overrides?: object): NodeRedisLike;
  connect(): Promise<unknown>;
  readonly isOpen: boolean;
  readonly isReady: boolean;
  on(event: string, fn: (...a: any[]) => void): unknown;
  destroy(): void;
}

/** The members of an ioredis client the adapter uses. */
interface IORedisLike {
  callBuffer(command: string, ...args: Array<string | Buffer>): Promise<unknown>;
  duplicate(overrides?: object): IORedisLike;
  connect(): Promise<void>;
  readonly status: string;
  on(event: string, fn: (...a: any[]) => void): unknown;
  disconnect(reconnect?: boolean): void;
}

/** node-redis RESP type codes (RESP_TYPES): bulk strings as Buffer, maps as flat arrays. */
const NODE_REDIS_BINARY = { typeMapping: { 36: Buffer, 37: Array, 61: Buffer } };
/** The blocking reader waits up to its BLOCK time: no client-side timeout (node-redis 6 defaults to 5 s). */
const NODE_REDIS_BLOCKING = { typeMapping: NODE_REDIS_BINARY.typeMapping, timeout: 0 };

/**
 * ioredis' disconnect() ends the stream and arms a ref'd `disconnectTimeout`
 * timer (default 2 s) that only the stream's 'close' event clears. Closed
 * while Redis is down, the client is waiting to reconnect and its stream has
 * closed already, so 'close' never comes and the timer kept the process (and
 * jest) alive 2 s after `app.close()` (redis/ioredis#1247, open PR #2169).
 * The bus needs no graceful end on the connections it owns (the outbox has
 * drained; the reader's blocking XREAD is abandoned), so destroy at once.
 */
const IOREDIS_DISCONNECT_TIMEOUT = 0;

/** Reconnect delay: exponential from 50 ms to 2 s with full jitter (scale-out.md 2.6). */
export function backoff(attempt: number): number {
  const cap = Math.min(2000, 50 * 2 ** Math.min(attempt, 6));
  return Math.floor(cap / 2 + Math.random() * (cap / 2));
}

class NodeRedisConn implements RedisConn {
  readonly library = 'redis' as const;
  private readonly options: object;
  constructor(private readonly client: NodeRedisLike, blocking: boolean) {
    this.options = blocking ? NODE_REDIS_BLOCKING : NODE_REDIS_BINARY;
  }
  isReady(): boolean {
    return this.client.isReady;
  }
  call(args: Array<string | Buffer>): Promise<unknown> {
    if (!this.client.isReady) return Promise.reject(new ConnectionDown());
    return this.client.sendCommand(args, this.options);
  }
  duplicate(blocking: boolean): RedisConn {
    return new NodeRedisConn(this.client.duplicate({ disableOfflineQueue: true }), blocking);
  }
  connect(): void {
    // connect() rejects when the first attempt fails and the strategy gives
    // up; the 'error' listener has reported it already.
    if (!this.client.isOpen) this.client.connect().catch(ignore);
  }
  on(event: string, fn: (...a: any[]) => void): void {
    if (event === 'down') {
      this.client.on('end', fn);
      this.client.on('reconnecting', fn);
    } else this.client.on(event, fn);
  }
  close(): Promise<void> {
    // destroy() aborts a pending blocking XREAD at once; the writer's outbox
    // has been flushed (or given up) before this is called.
    if (this.client.isOpen) this.client.destroy();
    return Promise.resolve();
  }
}

class IORedisConn implements RedisConn {
  readonly library = 'ioredis' as const;
  constructor(private readonly client: IORedisLike) {}
  isReady(): boolean {
    return this.client.status === 'ready';
  }
  call(args: Array<string | Buffer>): Promise<unknown> {
    if (this.client.status !== 'ready') return Promise.reject(new ConnectionDown());
    return this.client.callBuffer(args[0] as string, ...args.slice(1));
  }
  duplicate(blocking: boolean): RedisConn {
    return new IORedisConn(
      this.client.duplicate({
        enableOfflineQueue: false,
        // Our outbox resends in order; the client must not resend on its own.
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        disconnectTimeout: IOREDIS_DISCONNECT_TIMEOUT,
        ...(blocking ? { commandTimeout: undefined } : {}),
      }),
    );
  }
  connect(): void {
    if (this.client.status === 'wait') this.client.connect().catch(ignore);
  }
  on(event: string, fn: (...a: any[]) => void): void {
    if (event === 'down') {
      this.client.on('close', fn);
    } else this.client.on(event, fn);
  }
  close(): Promise<void> {
    this.client.disconnect(false);
    return Promise.resolve();
  }
}

/** A command refused because the connection is not ready (the outbox holds it). */
export class ConnectionDown extends Error {
  override readonly name = 'ConnectionDown';
  constructor() {
    super('Redis connection is not ready');
  }
}

function ignore(): void {}

/** Wrap a user's node-redis or ioredis client (structural check). */
export function adaptClient(client: unknown): RedisConn {
  const c = client as Partial<NodeRedisLike & IORedisLike> | null;
  if (c !== null && typeof c === 'object') {
    if (typeof c.callBuffer === 'function' && typeof c.duplicate === 'function') return new IORedisConn(c as IORedisLike);
    if (typeof c.sendCommand === 'function' && typeof c.duplicate === 'function' && 'isReady' in c) {
      return new NodeRedisConn(c as NodeRedisLike, false);
    }
  }
  throw new UsageError('RedisBus: `client` must be a node-redis (redis) or ioredis client');
}

/** Which library `new RedisBus({ url })` loads: the first one installed, `redis` first. */
export type RedisLibrary = 'redis' | 'ioredis';

/**
 * Create a client for `url` with the library's offline queue off and a
 * jittered reconnect backoff. Requires the package lazily.
 */
export function loadClient(url: string, library: RedisLibrary | undefined, load: (name: string) => unknown = require): RedisConn {
  const order: RedisLibrary[] = library === undefined ? ['redis', 'ioredis'] : [library];
  for (const name of order) {
    let mod: any;
    try {
      mod = load(name);
    } catch (err) {
      if (isMissing(err, name)) continue;
      throw err;
    }
    if (name === 'redis') {
      const client = mod.createClient({
        url,
        disableOfflineQueue: true,
        socket: { reconnectStrategy: backoff },
      }) as NodeRedisLike;
      return new NodeRedisConn(client, false);
    }
    const Redis = mod.default ?? mod.Redis ?? mod;
    const client = new Redis(url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      disconnectTimeout: IOREDIS_DISCONNECT_TIMEOUT,
      lazyConnect: true,
      retryStrategy: backoff,
    }) as IORedisLike;
    return new IORedisConn(client);
  }
  const want = library === undefined ? "the 'redis' package (npm install redis) or 'ioredis' (npm install ioredis)" : `the '${library}' package (npm install ${library})`;
  throw new UsageError(`RedisBus needs a Redis client library: install ${want}, or pass { client }`);
}

function isMissing(err: unknown, name: string): boolean {
  const e = err as { code?: string; message?: string };
  // Only the package itself missing, not one of its own dependencies.
  return e?.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.includes(`'${name}'`);
}
