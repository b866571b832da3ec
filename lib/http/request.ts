/**
 * A plain HTTP request as a route handler sees it (body already read), and
 * HttpError, the way a handler picks its error status.
 */
import { STATUS_CODES } from 'node:http';
import type { HttpRequestHead } from './head';
import type { HttpResponse } from './response';

/** A route handler. A throw or rejection answers 500 (or the status of an {@link HttpError}). */
export type HttpRouteHandler = (req: HttpRequest, res: HttpResponse) => void | Promise<void>;

/**
 * An error carrying the HTTP status to answer with. `req.json()` throws one
 * with 400 on invalid JSON; a handler may throw its own. If it escapes the
 * handler and nothing was sent yet, the response is that status with the
 * message as text body, and it is not logged as a server error.
 */
export class HttpError extends Error {
  /** Status to answer with (400-599). */
  readonly status: number;

  constructor(status: number, message?: string) {
    super(message ?? STATUS_CODES[status] ?? 'Error');
    this.name = 'HttpError';
    this.status = status;
  }
}

/** A plain HTTP request, body already read. */
export class HttpRequest {
  /** Method as sent (methods are case-sensitive, RFC 9110 9.1). */
  readonly method: string;
  /** request-target as sent: path and query. */
  readonly url: string;
  /** Path part of the target, percent-encoding kept. */
  readonly path: string;
  /** Route parameters, percent-decoded: `{id}` / `:id` / `*`. */
  readonly params: Record<string, string>;
  /** Header names in lower case; repeated headers joined with ', '. */
  readonly headers: Record<string, string>;
  /** The whole request body (empty when there is none). */
  readonly body: Buffer;
  /** `'1.1'` or `'1.0'`. */
  readonly httpVersion: string;
  /** Peer address. */
  readonly remoteAddress: string;
  private readonly qStart: number;
  private queryCache: Record<string, string> | null = null;

  /** @internal built by HttpHandler. */
  constructor(
    head: HttpRequestHead,
    path: string,
    qStart: number,
    params: Record<string, string>,
    body: Buffer,
    remoteAddress: string,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.path = path;
    this.params = params;
    this.headers = head.headers;
    this.body = body;
    this.httpVersion = head.versionMinor === 1 ? '1.1' : '1.0';
    this.remoteAddress = remoteAddress;
    this.qStart = qStart;
  }

  /** Query parameters (first value of each name, decoded), parsed on first use. */
  get query(): Record<string, string> {
    if (this.queryCache === null) {
      // No prototype: keys such as `constructor` or `__proto__` are plain keys.
      const query: Record<string, string> = Object.create(null);
      if (this.qStart >= 0) {
        for (const [k, v] of new URLSearchParams(this.url.slice(this.qStart + 1))) if (!(k in query)) query[k] = v;
      }
      this.queryCache = query;
    }
    return this.queryCache;
  }

  /** A header by name, any case. */
  getHeader(name: string): string | undefined {
    return this.headers[name.toLowerCase()];
  }

  /** The body decoded as UTF-8. */
  text(): Promise<string> {
    return Promise.resolve(this.body.toString('utf8'));
  }

  /** The body parsed as JSON; rejects with an {@link HttpError} 400 if it is not valid JSON. */
  json<T = unknown>(): Promise<T> {
    try {
      return Promise.resolve(JSON.parse(this.body.toString('utf8')) as T);
    } catch (err) {
      return Promise.reject(new HttpError(400, `Invalid JSON body: ${(err as Error).message}`));
    }
  }
}
