/**
 * The RFC 6455 opening handshake, sans-I/O: what the rest of lib/ uses. Each
 * side has its own file in this folder.
 */
export * from './server';
