/**
 * Serves the browser module (browser/xyra-client.ts, the reconnecting
 * WebSocket for pages) from an App route:
 *
 *   app.get('/xyra-client.js', serveBrowserClient);
 *   // in the page: import { ReconnectingWebSocket } from '/xyra-client.js';
 *
 * The built package ships it compiled (dist/browser/xyra-client.js, next to
 * dist/lib/). Run from the TypeScript sources (ts-node, jest), it is
 * compiled once on first use with the `typescript` package those tools
 * already load. The bytes are read once and kept; an ETag lets browsers
 * revalidate with a 304.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HttpRequest, HttpResponse } from './http';

interface Served {
  body: Buffer;
  etag: string;
}

let served: Served | null = null;

/** The browser module's JavaScript (an ES module), read or compiled on first use. */
export function browserClientSource(): string {
  return load().body.toString('utf8');
}

function load(): Served {
  if (served !== null) return served;
  const built = join(__dirname, '..', 'browser', 'xyra-client.js');
  let code: string;
  if (existsSync(built)) {
    code = readFileSync(built, 'utf8');
  } else {
    const source = join(__dirname, '..', 'browser', 'xyra-client.ts');
    if (!existsSync(source)) throw new Error(`xyra: the browser client is missing (${built}); run npm run build`);
    // Development only: the sources run under ts-node or jest, which need `typescript` anyway.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const ts = require('typescript') as typeof import('typescript');
    code = ts.transpileModule(readFileSync(source, 'utf8'), {
      compilerOptions: { target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.ES2020 },
      fileName: 'xyra-client.ts',
    }).outputText;
  }
  const body = Buffer.from(code, 'utf8');
  const etag = '"' + createHash('sha256').update(body).digest('base64url').slice(0, 22) + '"';
  served = { body, etag };
  return served;
}

/**
 * An HTTP route handler that answers with the browser module as
 * `text/javascript` (ES module), with an ETag and `Cache-Control: no-cache`
 * (browsers revalidate, and get 304 while it is unchanged).
 */
export function serveBrowserClient(req: HttpRequest, res: HttpResponse): void {
  const { body, etag } = load();
  res.header('ETag', etag).header('Cache-Control', 'no-cache').header('X-Content-Type-Options', 'nosniff');
  if (ifNoneMatch(req.headers['if-none-match'], etag)) {
    res.status(304).end();
    return;
  }
  res.header('Content-Type', 'text/javascript; charset=utf-8').send(body);
}

/** RFC 9110 13.1.2: `*` or a list of entity tags, compared weakly. */
function ifNoneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  for (const part of header.split(',')) {
    const tag = part.trim();
    if (tag === '*' || tag === etag || tag === 'W/' + etag) return true;
  }
  return false;
}
