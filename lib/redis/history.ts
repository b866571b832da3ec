/**
 * RedisBus's streams as a BusHistory (README: Recovery): the reader's position
 * per shard, `HMGET e s` for the top, `XRANGE` pages for a replay and `TIME`
 * for ttl checks against each entry's `a` field (its append time on the
 * Redis clock, written by the append script). Reads go on the bus's command
 * connection, never on the blocking reader.
 */
import type { BusEntry, BusHistory } from '../bus';
import type { RedisConn } from './client';
/** Where the process's readers are: the last position delivered per stream. */
export interface ReadPositions {
  position(stream: number): string | null;
}
import { shardOf } from './script';

export class RedisHistory implements BusHistory {
  constructor(
    private readonly conn: RedisConn,
    private readonly reader: ReadPositions,
    private readonly streams: readonly string[],
    private readonly metas: readonly string[],
  ) {}

  streamOf(topic: string, pattern: boolean): number {
    const n = this.streams.length;
    if (n === 1) return 0;
    if (pattern) {
      // A pattern's stream is its first level's; a wildcard there spans them all.
      const slash = topic.indexOf('/');
      const first = slash < 0 ? topic : topic.slice(0, slash);
      if (first === '+' || first === '#') return -1;
    }
    return shardOf(topic, n);
  }

  positionKey(stream: number, epoch: string): string {
    return this.streams.length === 1 ? epoch : `${stream}.${epoch}`;
  }

  readPosition(stream: number): { epoch: string; offset: number } | null {
    const p = this.reader.position(stream);
    if (p === null) return null;
    const dot = p.lastIndexOf('.');
    return { epoch: p.slice(0, dot), offset: Number(p.slice(dot + 1)) };
  }

  async top(stream: number): Promise<{ epoch: string; offset: number } | null> {
    const r = (await this.conn.call(['HMGET', this.metas[stream], 'e', 's'])) as unknown[];
    if (r[0] == null) return null;
    return { epoch: String(r[0]), offset: r[1] == null ? 0 : Number(String(r[1])) };
  }

  async range(stream: number, from: number, to: number, count: number): Promise<BusEntry[]> {
    const reply = (await this.conn.call(['XRANGE', this.streams[stream], `${from}-0`, `${to}-0`, 'COUNT', String(count)])) as unknown[];
    const out: BusEntry[] = [];
    if (!Array.isArray(reply)) return out;
    for (const raw of reply as unknown[][]) {
      const id = String(raw[0]);
      const fields = Array.isArray(raw[1]) ? (raw[1] as unknown[]) : [];
      const e: BusEntry = { offset: Number(id.slice(0, id.indexOf('-'))), epoch: '', at: 0, topic: '', payload: EMPTY, flags: 0 };
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const f = fields[i] as Buffer | string;
        const v = fields[i + 1] as Buffer | string;
        switch (typeof f === 'string' ? f.charCodeAt(0) : f[0]) {
          case 116: e.topic = String(v); break; // t
          case 100: e.payload = Buffer.isBuffer(v) ? v : Buffer.from(v); break; // d
          case 102: e.flags = Number(String(v)); break; // f
          case 101: e.epoch = String(v); break; // e
          case 97: e.at = Number(String(v)) || 0; break; // a
        }
      }
      out.push(e);
    }
    return out;
  }

  async now(): Promise<number> {
    const r = (await this.conn.call(['TIME'])) as unknown[];
    return Number(String(r[0])) * 1000 + Math.floor(Number(String(r[1])) / 1000);
  }
}

const EMPTY = Buffer.alloc(0);
