/**
 * A preallocated latency histogram: 1 microsecond buckets up to 100 ms, then
 * 1 ms buckets up to 10 s, then one overflow bucket. Recording is an index
 * computation and an increment: no allocation on the hot path.
 */
const FINE = 100_000; // µs buckets: [0, 100 ms)
const COARSE = 9_900; // ms buckets: [100 ms, 10 s)
const SIZE = FINE + COARSE + 1;

/** Latency histogram in microseconds. */
export class Histogram {
  readonly counts = new Uint32Array(SIZE);
  total = 0;

  /** Records one sample in microseconds. */
  record(us: number): void {
    let i: number;
    if (us < FINE) i = us < 0 ? 0 : Math.floor(us);
    else {
      const ms = Math.floor(us / 1000) - 100;
      i = ms < COARSE ? FINE + ms : SIZE - 1;
    }
    this.counts[i]++;
    this.total++;
  }

  /** The value (µs, bucket lower bound) at percentile `p` in [0, 100]. */
  percentile(p: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i];
      if (seen >= rank) return i < FINE ? i : (i - FINE + 100) * 1000;
    }
    return (COARSE + 100) * 1000;
  }

  /** Non-empty buckets as [index, count, index, count, ...] for IPC. */
  toSparse(): number[] {
    const out: number[] = [];
    for (let i = 0; i < SIZE; i++) if (this.counts[i] !== 0) out.push(i, this.counts[i]);
    return out;
  }

  /** Adds buckets produced by toSparse(). */
  addSparse(sparse: number[]): void {
    for (let k = 0; k + 1 < sparse.length; k += 2) {
      this.counts[sparse[k]] += sparse[k + 1];
      this.total += sparse[k + 1];
    }
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
  }
}
