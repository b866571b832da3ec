/**
 * The RFC 6455 opening handshake, sans-I/O: the server's checks and 101
 * (server.ts), the client's request and response checks (client.ts), the
 * key and accept values both use (key.ts), and WebSocket URLs (url.ts).
 */
export * from './key';
export * from './server';
export * from './client';
export * from './url';
