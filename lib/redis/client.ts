/**
 * A structural adapter over the two Node Redis clients, `redis` (node-redis
 * 5/6) and `ioredis` (5.9/6): send a raw command with Buffer replies, open a
 * second connection for the blocking reader, and hear connection events.
 * Neither package is imported here at module load: `loadClient` requires one
 * lazily when the user gives a URL, and a user's own client is only looked at
 * through the few members below (the way socket.io's streams adapter wraps both).
 * Redis Cluster clients (node-redis `createCluster`, ioredis `Cluster`) are
 * adapted too: every command names the key it routes by.
 */
import { UsageError } from '../../errors';

/** One Redis connection as the bus sees it. */
export interface RedisConn {
  readonly library: 'redis' | 'ioredis';
  /** A Redis Cluster client: a multi-key command must keep to one slot, and a blocking read needs a connection of its own per key. */
  readonly cluster: boolean;
  /** Connected and ready for commands. */
  isReady(): boolean;
  /**
   * Send one command; bulk strings come back as Buffers (binary payloads
   * survive). Rejects at once while not ready (no client-side offline queue).
   * `key`: the key the command routes by on a cluster (ignored otherwise).
   */
  call(args: Array<string | Buffer>, key?: string): Promise<unknown>;
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

/** The members of a node-redis cluster (`createCluster`) the adapter uses. */
interface NodeRedisClusterLike {
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: ReadonlyArray<string | Buffer>, options?: object): Promise<unknown>;
  duplicate(overrides?: object): NodeRedisClusterLike;
  connect(): Promise<unknown>;
  nodeClient(node: unknown): unknown;
  readonly isOpen: boolean;
  readonly isReady: boolean;
  readonly _options?: { defaults?: object };
  on(event: string, fn: (...a: any[]) => void): unknown;
  destroy(): void;
}

/** The members of an ioredis client (`Redis` or `Cluster`) the adapter uses. */
interface IORedisLike {
  callBuffer(command: string, ...args: Array<string | Buffer>): Promise<unknown>;
  duplicate(overrides?: object): IORedisLike;
  duplicate(startupNodes: unknown[], overrides?: object): IORedisLike;
  readonly isCluster?: boolean;
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
  readonly cluster = false;
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

/**
 * A node-redis cluster. Commands route by their key (`sendCommand(firstKey,
 * ...)`); node connections are shared by every command of the cluster
 * object, so a blocking reader runs on a `duplicate()` of its own, which
 * connects only to the node it reads (`minimizeConnections`).
 */
class NodeRedisClusterConn implements RedisConn {
  readonly library = 'redis' as const;
  readonly cluster = true;
  private readonly options: object;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly errorListeners: Array<(err: Error) => void> = [];
  constructor(private readonly client: NodeRedisClusterLike, blocking: boolean) {
    this.options = blocking ? NODE_REDIS_BLOCKING : NODE_REDIS_BINARY;
    client.on('error', (err: Error) => this.errorListeners.forEach((fn) => fn(err)));
    client.on('node-error', (err: Error) => this.errorListeners.forEach((fn) => fn(err)));
  }
  isReady(): boolean {
    return this.client.isReady;
  }
  call(args: Array<string | Buffer>, key?: string): Promise<unknown> {
    if (!this.client.isReady) return Promise.reject(new ConnectionDown());
    return this.client.sendCommand(key, false, args, this.options);
  }
  duplicate(blocking: boolean): RedisConn {
    const defaults = this.client._options?.defaults ?? {};
    return new NodeRedisClusterConn(
      this.client.duplicate({ minimizeConnections: true, defaults: { ...defaults, disableOfflineQueue: true } }),
      blocking,
    );
  }
  connect(): void {
    // A cluster does not retry its first discovery (no root node answered):
    // try again with backoff until closed.
    if (this.closed || this.client.isOpen) return;
    this.client.connect().then(
      () => (this.attempt = 0),
      () => {
        if (this.closed) return;
        this.timer = setTimeout(() => {
          this.timer = null;
          this.connect();
        }, backoff(this.attempt++));
        this.timer.unref();
      },
    );
  }
  on(event: string, fn: (...a: any[]) => void): void {
    if (event === 'ready') {
      this.client.on('connect', fn);
      this.client.on('node-ready', fn);
    } else if (event === 'down') {
      this.client.on('disconnect', fn);
      this.client.on('node-reconnecting', fn);
    } else if (event === 'error') this.errorListeners.push(fn);
    else this.client.on(event, fn);
  }
  close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.client.isOpen) this.client.destroy();
    return Promise.resolve();
  }
}

class IORedisConn implements RedisConn {
  readonly library = 'ioredis' as const;
  readonly cluster: boolean;
  constructor(private readonly client: IORedisLike) {
    this.cluster = client.isCluster === true;
  }
  isReady(): boolean {
    return this.client.status === 'ready';
  }
  call(args: Array<string | Buffer>): Promise<unknown> {
    if (this.client.status !== 'ready') return Promise.reject(new ConnectionDown());
    return this.client.callBuffer(args[0] as string, ...args.slice(1));
  }
  duplicate(blocking: boolean): RedisConn {
    const node = {
      enableOfflineQueue: false,
      // Our outbox resends in order; the client must not resend on its own.
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      disconnectTimeout: IOREDIS_DISCONNECT_TIMEOUT,
      ...(blocking ? { commandTimeout: undefined } : {}),
    };
    if (this.cluster) {
      // A Cluster keeps one connection per node for all its commands: a
      // blocking reader gets a Cluster of its own (its node connections are
      // lazy, so it connects to the node it reads).
      return new IORedisConn(this.client.duplicate([], { ...IOREDIS_CLUSTER, redisOptions: node }));
    }
    return new IORedisConn(this.client.duplicate(node));
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
    const k = client as Partial<NodeRedisClusterLike>;
    if (typeof k.sendCommand === 'function' && typeof k.duplicate === 'function' && typeof k.nodeClient === 'function') {
      return new NodeRedisClusterConn(k as NodeRedisClusterLike, false);
    }
    if (typeof c.sendCommand === 'function' && typeof c.duplicate === 'function' && 'isReady' in c) {
      return new NodeRedisConn(c as NodeRedisLike, false);
    }
  }
  throw new UsageError('RedisBus: `client` must be a node-redis (redis) or ioredis client, or a cluster of either');
}

/** Which library `new RedisBus({ url })` loads: the first one installed, `redis` first. */
export type RedisLibrary = 'redis' | 'ioredis';

/**
 * Create a client for `url` with the library's offline queue off and a
 * jittered reconnect backoff. Requires the package lazily.
 */
export function loadClient(url: string, library: RedisLibrary | undefined, load: (name: string) => unknown = require): RedisConn {
  const [name, mod] = requireLibrary(library, load);
  if (name === 'redis') {
    const client = mod.createClient({
      url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: backoff },
    }) as NodeRedisLike;
    return new NodeRedisConn(client, false);
  }
  const Redis = mod.default ?? mod.Redis ?? mod;
  const client = new Redis(url, { ...IOREDIS_NODE, lazyConnect: true, retryStrategy: backoff }) as IORedisLike;
  return new IORedisConn(client);
}

/** ioredis options of every connection the bus creates. */
const IOREDIS_NODE = {
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  disconnectTimeout: IOREDIS_DISCONNECT_TIMEOUT,
};

/**
 * ioredis Cluster options of the clusters the bus creates. The adapter
 * refuses every command while the cluster is not ready, so the cluster's
 * queue only holds commands for a node whose (lazy) connection is still
 * opening, at most `maxInFlight`. Turned off, ioredis does not refuse
 * either: it retries each such command on a random node after
 * `retryDelayOnFailover` and follows the redirect, one by one, which
 * reorders them (the script then has them resent in order).
 */
const IOREDIS_CLUSTER = { enableOfflineQueue: true, lazyConnect: true };

/**
 * Create a Redis Cluster client from seed nodes (`redis://[user:pass@]host:port`
 * or `host:port`; the cluster's other nodes are discovered), with the same
 * settings as loadClient. Requires the package lazily.
 */
export function loadClusterClient(nodes: readonly string[], library: RedisLibrary | undefined, load: (name: string) => unknown = require): RedisConn {
  if (!Array.isArray(nodes) || nodes.length === 0 || !nodes.every((n) => typeof n === 'string')) {
    throw new UsageError('RedisBus: cluster.nodes must be a non-empty array of "redis://host:port" strings');
  }
  const urls = nodes.map((n) => new URL(n.includes('://') ? n : `redis://${n}`));
  const auth = urls.find((u) => u.username !== '' || u.password !== '');
  const username = auth && auth.username !== '' ? decodeURIComponent(auth.username) : undefined;
  const password = auth && auth.password !== '' ? decodeURIComponent(auth.password) : undefined;
  const [name, mod] = requireLibrary(library, load);
  if (name === 'redis') {
    const client = mod.createCluster({
      rootNodes: urls.map((u) => ({ url: `${u.protocol}//${u.host}` })),
      defaults: { username, password, disableOfflineQueue: true, socket: { reconnectStrategy: backoff } },
    }) as NodeRedisClusterLike;
    return new NodeRedisClusterConn(client, false);
  }
  const Cluster = (mod.default ?? mod).Cluster ?? mod.Cluster;
  const client = new Cluster(
    urls.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })),
    { ...IOREDIS_CLUSTER, clusterRetryStrategy: backoff, redisOptions: { ...IOREDIS_NODE, username, password, retryStrategy: backoff } },
  ) as IORedisLike;
  return new IORedisConn(client);
}

/** The first installed of `redis`, `ioredis` (or the one asked for), with a UsageError naming what to install. */
function requireLibrary(library: RedisLibrary | undefined, load: (name: string) => unknown): [RedisLibrary, any] {
  const order: RedisLibrary[] = library === undefined ? ['redis', 'ioredis'] : [library];
  for (const name of order) {
    try {
      return [name, load(name)];
    } catch (err) {
      if (isMissing(err, name)) continue;
      throw err;
    }
  }
  const want = library === undefined ? "the 'redis' package (npm install redis) or 'ioredis' (npm install ioredis)" : `the '${library}' package (npm install ${library})`;
  throw new UsageError(`RedisBus needs a Redis client library: install ${want}, or pass { client }`);
}

function isMissing(err: unknown, name: string): boolean {
  const e = err as { code?: string; message?: string };
  // Only the package itself missing, not one of its own dependencies.
  return e?.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.includes(`'${name}'`);
}
