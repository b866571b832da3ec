/**
 * What `app.stats()`, `app.prometheus()` and `onReject` report: totals summed
 * over the routes' counters (each RouteOwner keeps its own, lib/metrics.ts),
 * and the refused upgrades, counted per route or, before a route matched,
 * for the App alone.
 */
import type { Socket } from 'node:net';
import type { HttpRequestHead } from '../http/head';
import { countRejection, formatPrometheus, type RouteOwner, type TrafficStats } from '../metrics';
import type { AppOptions } from './options';
import type { Route } from './routes';

/** Counters for app.stats(): totals, and the same per route pattern. */
export interface AppStats extends TrafficStats {
  subscriptions: number;
  topics: number;
  /** Per route pattern (as registered). Rejections before any route matched (404, 431, ...) count only in the totals. */
  routes: Record<string, TrafficStats>;
}

/** The pub/sub figures the stats show. */
interface SubscriptionCounts {
  subscriptionCount(): number;
  topicCount(): number;
}

/** Totals over the routes (plus the App's own rejections), and each route's figures. */
export function collectStats(connections: number, owners: Map<string, RouteOwner>, rejections: Rejections, hub: SubscriptionCounts): AppStats {
  const routes: Record<string, TrafficStats> = {};
  const total: AppStats = {
    connections,
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    drops: 0,
    rejections: Object.fromEntries(rejections.unrouted) as Record<number, number>,
    subscriptions: hub.subscriptionCount(),
    topics: hub.topicCount(),
    routes,
  };
  for (const [pattern, owner] of owners) {
    const r = (routes[pattern] = owner.stats());
    total.messagesIn += r.messagesIn;
    total.messagesOut += r.messagesOut;
    total.bytesIn += r.bytesIn;
    total.bytesOut += r.bytesOut;
    total.drops += r.drops;
    for (const status of Object.keys(r.rejections)) {
      const n = Number(status);
      total.rejections[n] = (total.rejections[n] ?? 0) + r.rejections[n];
    }
  }
  return total;
}

/** The Prometheus text (format 0.0.4) of a stats snapshot. */
export function prometheusText(s: AppStats, rejections: Rejections): string {
  return formatPrometheus({
    routes: s.routes,
    unrouted: Object.fromEntries(rejections.unrouted) as Record<number, number>,
    subscriptions: s.subscriptions,
    topics: s.topics,
  });
}

/** Refused upgrades (and request heads): counted, and told to `onReject`. */
export class Rejections {
  /** Rejections before a route matched, by status. */
  readonly unrouted = new Map<number, number>();
  private originWarned = false;

  constructor(
    /** The App's options, read at each refusal (as before the split). */
    private readonly options: AppOptions,
    private readonly parent: { reportError(ws: null, err: Error): void },
  ) {}

  /** An upgrade (or a request head) was refused with `status`. */
  record(head: HttpRequestHead | null, route: Route | null, status: number, reason: string, socket: Socket): void {
    countRejection(route !== null ? route.owner.rejections : this.unrouted, status);
    const hook = this.options.onReject;
    if (hook === undefined) {
      if (status === 403 && route !== null && !this.originWarned && reason === 'Origin not allowed') {
        this.originWarned = true;
        console.warn(
          `[xyra] refused a WebSocket upgrade to ${route.owner.pattern} with 403 because its Origin ` +
            `(${head?.headers['origin'] ?? '?'}) is not allowed: list it in the route's allowedOrigins ` +
            `(a page served from another port or opened from a file has a different origin). ` +
            `Set App({ onReject }) to see every refused upgrade; this warning is shown once.`,
        );
      }
      return;
    }
    try {
      hook(
        {
          method: head?.method ?? '',
          url: head?.url ?? '',
          headers: head?.headers ?? {},
          route: route?.owner.pattern ?? '',
          remoteAddress: socket.remoteAddress ?? '',
        },
        status,
        reason,
      );
    } catch (err) {
      this.parent.reportError(null, err instanceof Error ? err : new Error(String(err)));
    }
  }
}
