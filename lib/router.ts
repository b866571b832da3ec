/**
 * Route patterns for WebSocket and HTTP routes: static paths, parameters
 * written `{name}` (Xyra's way) or `:name`, and a trailing `*`.
 * Static routes are a Map lookup; patterned routes are tried in order.
 */
import { UsageError } from '../errors';

enum SegmentKind {
  LITERAL = 0,
  PARAM = 1,
}

interface Segment {
  kind: SegmentKind;
  value: string;
}

interface Compiled<T> {
  segments: Segment[];
  /** Trailing `*`: matches any rest of the path (including nothing). */
  rest: boolean;
  value: T;
}

export interface RouteMatch<T> {
  value: T;
  params: Record<string, string>;
}

const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

export class Router<T> {
  private readonly exact = new Map<string, T>();
  private readonly patterns: Compiled<T>[] = [];

  /** Add a route. A duplicate pattern replaces the earlier one. */
  add(pattern: string, value: T): void {
    if (typeof pattern !== 'string' || pattern[0] !== '/' && pattern !== '*') {
      throw new UsageError(`Route pattern must start with '/': ${String(pattern)}`);
    }
    const parts = pattern === '*' ? ['*'] : pattern.slice(1).split('/');
    const segments: Segment[] = [];
    let rest = false;
    let dynamic = false;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (p === '*' && i === parts.length - 1) {
        rest = true;
        dynamic = true;
      } else if (p.length > 2 && p[0] === '{' && p[p.length - 1] === '}') {
        segments.push({ kind: SegmentKind.PARAM, value: p.slice(1, -1) });
        dynamic = true;
      } else if (p.length > 1 && p[0] === ':') {
        segments.push({ kind: SegmentKind.PARAM, value: p.slice(1) });
        dynamic = true;
      } else {
        segments.push({ kind: SegmentKind.LITERAL, value: p });
      }
    }
    if (!dynamic) {
      this.exact.set(pattern, value);
      return;
    }
    const existing = this.patterns.findIndex((c) => samePattern(c, segments, rest));
    const compiled = { segments, rest, value };
    if (existing >= 0) this.patterns[existing] = compiled;
    else this.patterns.push(compiled);
  }

  /** Find the route for a path (without query string). Static routes win. */
  match(path: string): RouteMatch<T> | null {
    const exact = this.exact.get(path);
    if (exact !== undefined) return { value: exact, params: NO_PARAMS };
    if (this.patterns.length === 0) return null;
    const parts = path.length > 1 ? path.slice(1).split('/') : path === '/' ? [''] : [];
    outer: for (const c of this.patterns) {
      const segs = c.segments;
      if (c.rest ? parts.length < segs.length : parts.length !== segs.length) continue;
      let params: Record<string, string> | null = null;
      for (let i = 0; i < segs.length; i++) {
        const s = segs[i];
        const part = parts[i];
        if (s.kind === SegmentKind.LITERAL) {
          if (s.value !== part) continue outer;
        } else {
          if (part.length === 0) continue outer;
          if (params === null) params = {};
          params[s.value] = safeDecode(part);
        }
      }
      if (c.rest) {
        if (params === null) params = {};
        params['*'] = parts.slice(segs.length).join('/');
      }
      return { value: c.value, params: params ?? NO_PARAMS };
    }
    return null;
  }

  get size(): number {
    return this.exact.size + this.patterns.length;
  }
}

function samePattern<T>(c: Compiled<T>, segments: Segment[], rest: boolean): boolean {
  if (c.rest !== rest || c.segments.length !== segments.length) return false;
  for (let i = 0; i < segments.length; i++) {
    const a = c.segments[i];
    const b = segments[i];
    if (a.kind !== b.kind || (a.kind === SegmentKind.LITERAL && a.value !== b.value)) return false;
  }
  return true;
}

function safeDecode(s: string): string {
  if (s.indexOf('%') < 0) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Split a request target into path and parsed query. */
export function splitUrl(url: string): { path: string; query: Record<string, string> } {
  if (url.charCodeAt(0) !== 47 /* '/' */) url = originForm(url);
  const q = url.indexOf('?');
  if (q < 0) return { path: url, query: {} };
  const query: Record<string, string> = {};
  const params = new URLSearchParams(url.slice(q + 1));
  for (const [k, v] of params) if (!(k in query)) query[k] = v;
  return { path: url.slice(0, q), query };
}

/**
 * RFC 9112 3.2.2: a server must accept the absolute form
 * (`GET http://host/chat HTTP/1.1`); routing uses its path and query.
 */
function originForm(url: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url);
  if (m === null) return url;
  const rest = url.slice(m[0].length);
  return rest.length === 0 || rest.charCodeAt(0) === 63 /* '?' */ ? '/' + rest : rest;
}
