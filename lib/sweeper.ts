/**
 * One coarse timer for many connections (as uWebSockets does): instead of a
 * setTimeout per socket, a single unref'd interval visits each registered
 * item and lets it check its own deadlines (idle, ping, close handshake,
 * lifetime, upgrade). Costs O(connections) per tick and no timer objects
 * per connection.
 */
/** Start of the clock: milliseconds since then stay small integers (V8 Smis). */
const EPOCH = Date.now() - 1;

/**
 * Milliseconds on a process-local clock. Deadlines stored per connection stay
 * small integers for ~24 days of uptime, where raw Date.now() values would each
 * be a boxed heap number (16 bytes apiece, per connection).
 */
export function clock(): number {
  return Date.now() - EPOCH;
}

export interface Sweepable {
  /** Called once per tick with the tick's timestamp (ms). */
  sweep(now: number): void;
}

export class Sweeper {
  private readonly items = new Set<Sweepable>();
  private timer: NodeJS.Timeout | null = null;
  /** Timestamp of the last tick; good enough as "now" for coarse deadlines. */
  now = clock();

  constructor(public tickMs: number) {}

  /** Use a shorter tick if `tickMs` is below the current one (a route with short deadlines). */
  retune(tickMs: number): void {
    if (tickMs >= this.tickMs) return;
    this.tickMs = tickMs;
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = setInterval(sweepTick, this.tickMs, this);
      this.timer.unref();
    }
  }

  add(item: Sweepable): void {
    this.items.add(item);
    if (this.timer === null) {
      this.now = clock();
      this.timer = setInterval(sweepTick, this.tickMs, this);
      this.timer.unref();
    }
  }

  delete(item: Sweepable): void {
    this.items.delete(item);
    if (this.items.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  get size(): number {
    return this.items.size;
  }

  /** @internal */
  tick(): void {
    const now = (this.now = clock());
    for (const item of this.items) {
      try {
        item.sweep(now);
      } catch {
        // A sweep must never stop the others; items handle their own errors.
      }
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.items.clear();
  }
}

function sweepTick(sweeper: Sweeper): void {
  sweeper.tick();
}

/** A tick short enough for the smallest deadline in use, within [50 ms, 1 s]. */
export function tickFor(...timeoutsMs: number[]): number {
  let min = 4000;
  for (const t of timeoutsMs) if (t > 0 && t < min) min = t;
  return Math.max(50, Math.min(1000, Math.floor(min / 4)));
}
