/**
 * The HTTP side of the App, one concept per file: the request head parser
 * (head.ts), what a head allows (framing.ts), chunked bodies (chunked.ts),
 * requests and responses (request.ts, response.ts), one connection's state
 * (exchange.ts), routing and serving (handler.ts), its options (options.ts)
 * and closing after the last answer (close.ts). This index is what the rest
 * of lib/ and the package entry point import.
 */
export * from './options';
export * from './request';
export * from './response';
export * from './chunked';
export * from './framing';
export * from './handler';
export * from './close';
export { RequestHeadParser, ResponseHeadParser, HttpHeadError, DEFAULT_MAX_HEAD_BYTES, DEFAULT_MAX_HEADERS } from './head';
export type { HttpRequestHead, HttpResponseHead, HeadLimits } from './head';
