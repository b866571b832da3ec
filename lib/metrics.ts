/**
 * Per-route bookkeeping behind `app.stats()`, `app.clients()` and the
 * Prometheus endpoint. Each route has one RouteOwner: it is the
 * WebSocketOwner of that route's sockets, so the WebSocket hot path bumps the
 * route's own counters (the same single property write as before: no lookup
 * by route per message), and the App's totals are sums over its routes.
 */
import type { WebSocket, WebSocketOwner, PubSubHub } from './websocket';
import type { Sweeper } from './sweeper';

/** Traffic of one route (or the whole App). */
export interface TrafficStats {
  /** Open WebSockets. */
  connections: number;
  messagesIn: number;
  messagesOut: number;
  /** Payload bytes (after decompression in, before compression out). */
  bytesIn: number;
  bytesOut: number;
  /** Messages not sent because the socket was closing or over maxBackpressure (direct sends and publishes). */
  drops: number;
  /** Upgrades refused, by HTTP status (`{ 403: 2 }`). */
  rejections: Record<number, number>;
}

/** What a RouteOwner needs from its App. */
export interface RouteOwnerParent {
  readonly sweeper: Sweeper;
  readonly hub: PubSubHub;
  removeSocket(ws: WebSocket): void;
  reportError(ws: WebSocket | null, err: Error): void;
}

/** The owner of one route's sockets, with that route's counters (not exported by index.ts). */
export class RouteOwner implements WebSocketOwner {
  readonly sweeper: Sweeper;
  readonly hub: PubSubHub;
  readonly counters = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, drops: 0 };
  /** Open sockets of this route (iteration order = connection order). */
  readonly sockets = new Set<WebSocket>();
  readonly rejections = new Map<number, number>();

  constructor(
    private readonly parent: RouteOwnerParent,
    /** The pattern the route was registered with. */
    readonly pattern: string,
  ) {
    this.sweeper = parent.sweeper;
    this.hub = parent.hub;
  }

  removeSocket(ws: WebSocket): void {
    this.sockets.delete(ws);
    this.parent.removeSocket(ws);
  }

  reportError(ws: WebSocket, err: Error): void {
    this.parent.reportError(ws, err);
  }

  stats(): TrafficStats {
    const c = this.counters;
    return {
      connections: this.sockets.size,
      messagesIn: c.messagesIn,
      messagesOut: c.messagesOut,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      drops: c.drops,
      rejections: Object.fromEntries(this.rejections) as Record<number, number>,
    };
  }
}

/** Add one to a status count. */
export function countRejection(map: Map<number, number>, status: number): void {
  map.set(status, (map.get(status) ?? 0) + 1);
}

/** What the Prometheus page shows. */
export interface MetricsSnapshot {
  routes: Record<string, TrafficStats>;
  /** Rejections before any route matched (404, 400 for a bad head, 431 ...), by status. */
  unrouted: Record<number, number>;
  subscriptions: number;
  topics: number;
}

/** Content-Type of the Prometheus text exposition format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Label values escape backslash, double quote and newline (exposition format 0.0.4). */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const SERIES: Array<{ name: string; type: 'counter' | 'gauge'; help: string; key: keyof Omit<TrafficStats, 'rejections'> }> = [
  { name: 'xyra_connections', type: 'gauge', help: 'Open WebSocket connections.', key: 'connections' },
  { name: 'xyra_messages_received_total', type: 'counter', help: 'WebSocket messages received.', key: 'messagesIn' },
  { name: 'xyra_messages_sent_total', type: 'counter', help: 'WebSocket messages sent.', key: 'messagesOut' },
  { name: 'xyra_received_bytes_total', type: 'counter', help: 'Payload bytes received.', key: 'bytesIn' },
  { name: 'xyra_sent_bytes_total', type: 'counter', help: 'Payload bytes sent.', key: 'bytesOut' },
  { name: 'xyra_dropped_messages_total', type: 'counter', help: 'Messages dropped (closing socket or over maxBackpressure).', key: 'drops' },
];

/** Render a snapshot in the Prometheus text format 0.0.4, one `route` label per WebSocket route. */
export function formatPrometheus(s: MetricsSnapshot): string {
  const out: string[] = [];
  const routes = Object.keys(s.routes);
  for (const series of SERIES) {
    out.push(`# HELP ${series.name} ${series.help}`, `# TYPE ${series.name} ${series.type}`);
    for (const r of routes) out.push(`${series.name}{route="${label(r)}"} ${s.routes[r][series.key]}`);
  }
  out.push('# HELP xyra_upgrade_rejections_total Upgrade requests refused, by HTTP status.', '# TYPE xyra_upgrade_rejections_total counter');
  for (const r of routes) {
    const rej = s.routes[r].rejections;
    for (const status of Object.keys(rej)) out.push(`xyra_upgrade_rejections_total{route="${label(r)}",status="${status}"} ${rej[Number(status)]}`);
  }
  for (const status of Object.keys(s.unrouted)) out.push(`xyra_upgrade_rejections_total{route="",status="${status}"} ${s.unrouted[Number(status)]}`);
  out.push('# HELP xyra_subscriptions Pub/sub subscriptions.', '# TYPE xyra_subscriptions gauge', `xyra_subscriptions ${s.subscriptions}`);
  out.push('# HELP xyra_topics Pub/sub topics with subscribers.', '# TYPE xyra_topics gauge', `xyra_topics ${s.topics}`);
  return out.join('\n') + '\n';
}
