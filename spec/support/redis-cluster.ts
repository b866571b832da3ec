/**
 * A real three-master Redis Cluster for tests (no mock): three redis-server
 * processes with `--cluster-enabled yes` on free ports (each with its own
 * temporary directory, nodes.conf and cluster bus port), joined by
 * `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`, ready
 * when every node's CLUSTER INFO says `cluster_state:ok`. Killed by PID.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { RedisServer, describeRedis, redisAvailable } from './redis-server';

const run = promisify(execFile);
const CLI = process.env.REDIS_CLI ?? 'redis-cli';

/** Whether redis-server and redis-cli can run here (a cluster needs both). */
export const clusterAvailable: boolean = redisAvailable && spawnSync(CLI, ['--version'], { stdio: 'ignore' }).status === 0;

export class RedisClusterServers {
  readonly nodes: RedisServer[] = [];

  constructor(private readonly count = 3) {}

  /** `host:port` of every master. */
  get addresses(): string[] {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`);
  }

  /** `redis://host:port` of every master. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  async start(): Promise<this> {
    for (let i = 0; i < this.count; i++) {
      const node = new RedisServer({ cluster: true });
      this.nodes.push(node);
    }
    await Promise.all(this.nodes.map((n) => n.start()));
    await run(CLI, ['--cluster', 'create', ...this.addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30000 });
    for (let i = 0; i < 400; i++) {
      const infos = await Promise.all(this.nodes.map((n) => this.cli(n.port, 'CLUSTER', 'INFO')));
      if (infos.every((s) => s.includes('cluster_state:ok'))) {
        await this.readRanges();
        return this;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`Redis Cluster on ${this.addresses.join(', ')} did not reach cluster_state:ok`);
  }

  /** Run one command on one node with redis-cli; resolves its output. */
  async cli(port: number, ...args: string[]): Promise<string> {
    const { stdout } = await run(CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10000 });
    return stdout;
  }

  /** Slot ranges of every master, from CLUSTER NODES (read once after start). */
  private ranges: Array<{ from: number; to: number; port: number }> = [];

  /** Port of the master that owns `key`'s slot. */
  ownerOf(key: string): number {
    const slot = keySlot(key);
    for (const r of this.ranges) if (slot >= r.from && slot <= r.to) return r.port;
    throw new Error(`no master owns slot ${slot} of ${key}`);
  }

  private async readRanges(): Promise<void> {
    this.ranges = [];
    for (const line of (await this.cli(this.nodes[0].port, 'CLUSTER', 'NODES')).split('\n')) {
      // <id> <host:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges...>
      const f = line.trim().split(' ');
      if (f.length < 9 || !f[2].includes('master')) continue;
      const port = Number(f[1].split('@')[0].split(':')[1]);
      for (const range of f.slice(8)) {
        const [from, to] = range.split('-').map(Number);
        this.ranges.push({ from, to: to ?? from, port });
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}

/**
 * Redis Cluster key slot: CRC16 (XMODEM) of the key, or of its hash tag (the
 * part between the first `{` and the next `}` when not empty), mod 16384.
 */
export function keySlot(key: string): number {
  let k = Buffer.from(key);
  const open = k.indexOf(0x7b);
  if (open >= 0) {
    const close = k.indexOf(0x7d, open + 1);
    if (close > open + 1) k = k.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of k) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/** `describe` when redis-server and redis-cli exist; otherwise as describeRedis (SKIPPED locally, a failure under CI=true). */
export function describeCluster(name: string, fn: () => void): void {
  if (clusterAvailable) return describe(name, fn);
  if (process.env.CI === 'true' || !redisAvailable) return describeRedis(name, fn);
  // eslint-disable-next-line no-console
  console.warn(`\n*** SKIPPED: ${name}: ${CLI} not found (it comes with redis-server, package redis-tools). ***\n`);
  describe.skip(name, fn);
}
