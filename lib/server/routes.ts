/**
 * The App's WebSocket routes: registration (the behaviour and its options,
 * checked and resolved once, when given) and lookup by request path. Each
 * route has its RouteOwner (lib/metrics.ts): its sockets and counters.
 */
import type { WebSocket } from '../websocket';
import { resolveSocketOptions, type ResolvedSocketOptions } from '../options';
import { Router, type RouteMatch } from '../router';
import { compileOriginPolicy, compileHostList, type OriginPolicy, type HostList } from '../origin-policy';
import { RouteOwner, type RouteOwnerParent } from '../metrics';
import { checkOptionKeys, SOCKET_OPTION_KEYS, BEHAVIOR_KEYS, DEFLATE_OPTION_KEYS } from '../option-check';
import { UsageError } from '../../errors';
import { ROUTE_OPTION_KEYS, checkTimeout, pickOptions, type AppBehavior, type RouteOptions } from './options';

/** One WebSocket route as registered: what `ws.route` holds for its sockets. */
export interface Route {
  behavior: AppBehavior;
  options: ResolvedSocketOptions;
  allowedOrigins: OriginPolicy;
  /** undefined: the App's allowedHosts apply. */
  allowedHosts: HostList | undefined;
  publishToSelf: boolean;
  /** This route's sockets and counters. */
  owner: RouteOwner;
  upgradeTimeout: number;
}

/** The WebSocket routes of one App, by pattern. */
export class RouteTable {
  private readonly router = new Router<Route>();
  /** Route keys (pattern with parameter names erased) already registered: a second one is a UsageError. */
  private readonly patterns = new Set<string>();
  /** Each route's owner, by the pattern as registered (app.clients(pattern), stats). */
  readonly owners = new Map<string, RouteOwner>();

  /**
   * Check and register a route (`app.websocket()`): `handler` is a function
   * called with each new socket or a behaviour object; `upgradeTimeout` is
   * the App's default.
   */
  add<UserData>(
    parent: RouteOwnerParent,
    pattern: string,
    handler: ((ws: WebSocket<UserData>) => void) | AppBehavior<UserData>,
    options: RouteOptions,
    upgradeTimeout: number,
  ): Route {
    if (typeof handler !== 'function' && (typeof handler !== 'object' || handler === null)) {
      throw new UsageError('websocket() takes a function or a behaviour object');
    }
    if (typeof handler !== 'function') checkOptionKeys(handler, `app.websocket('${pattern}', behaviour)`, BEHAVIOR_KEYS, SOCKET_OPTION_KEYS, ROUTE_OPTION_KEYS);
    checkOptionKeys(options, `app.websocket('${pattern}', handler, options)`, SOCKET_OPTION_KEYS, ROUTE_OPTION_KEYS);
    const behavior: AppBehavior = typeof handler === 'function' ? { open: handler as (ws: WebSocket) => void } : { ...handler };
    const merged: RouteOptions = { ...pickOptions(behavior), ...options };
    if (merged.compression !== null && typeof merged.compression === 'object') {
      checkOptionKeys(merged.compression, `the compression options of '${pattern}'`, DEFLATE_OPTION_KEYS);
    }
    // Same shape whatever the parameter names (`/room/{id}` = `/room/:name`): the second would be unreachable.
    const key = typeof pattern === 'string' ? pattern.replace(/\/(?::[^/]+|\{[^/]+\})/g, '/{}') : '';
    if (this.patterns.has(key)) throw new UsageError(`WebSocket route '${pattern}' is already registered`);
    const resolved = resolveSocketOptions(merged);
    if (resolved.compression !== null && resolved.compression.serverNoContextTakeover === undefined) {
      // Server default (as uWebSockets' shared compressor): every message we
      // send is compressed from an empty window (RFC 7692 7.1.1.1 lets the
      // server say so unasked). No deflater per connection, and a publish can
      // share one compressed frame among all its recipients.
      resolved.compression.serverNoContextTakeover = true;
    }
    const owner = new RouteOwner(parent, pattern);
    const routeUpgradeTimeout = checkTimeout(merged.upgradeTimeout, upgradeTimeout);
    const route: Route = {
      behavior,
      options: resolved,
      allowedOrigins: compileOriginPolicy(merged.allowedOrigins),
      allowedHosts: compileHostList(merged.allowedHosts),
      publishToSelf: merged.publishToSelf ?? false,
      owner,
      upgradeTimeout: routeUpgradeTimeout,
    };
    this.router.add(pattern, route);
    this.patterns.add(key);
    this.owners.set(pattern, owner);
    return route;
  }

  /** The route for a request path, with its parameters, or null. */
  match(path: string): RouteMatch<Route> | null {
    return this.router.match(path);
  }

  /** A route's owner by the pattern as registered; an unknown pattern is a UsageError. */
  owner(pattern: string): RouteOwner {
    const owner = this.owners.get(pattern);
    if (owner === undefined) throw new UsageError(`No WebSocket route '${pattern}' (routes: ${[...this.owners.keys()].join(', ')})`);
    return owner;
  }
}
