/**
 * Echo servers to point the runner at: `ws` (the reference) and, once its
 * server API lands, Xyra's own. Each echoes every message with its type and
 * listens on 127.0.0.1 port 0.
 */
import { App, OpCode, type WebSocket as XyraWebSocket } from '../../index';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** A running echo server. */
export interface EchoServer {
  url: string;
  /** Human name for reports, e.g. 'ws 8.23.0 (permessage-deflate on)'. */
  agent: string;
  close(): Promise<void>;
}

/** Which implementation to start. */
export type ServerKind = 'ws' | 'xyra';

/** Options common to all echo servers. */
export interface EchoServerOptions {
  perMessageDeflate?: boolean;
}

/** Start the `ws` reference echo server. */
export async function startWsEchoServer(opts: EchoServerOptions = {}): Promise<EchoServer> {
  const server = http.createServer();
  const wss = new WebSocketServer({
    server,
    // Autobahn's 9.x sends 16 MiB messages; ws's default limit is 100 MiB, stated for clarity.
    maxPayload: 100 * 1024 * 1024,
    perMessageDeflate: opts.perMessageDeflate ? { threshold: 0 } : false,
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    ws.on('error', () => undefined); // protocol errors are the point of the exercise
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const version = (require('ws/package.json') as { version: string }).version;
  return {
    url: `ws://127.0.0.1:${port}/`,
    agent: `ws ${version}${opts.perMessageDeflate ? ' (permessage-deflate on)' : ''}`,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Minimal shape of Xyra's server API the echo server needs (see the lead's brief). */
/**
 * Start Xyra's echo server: every origin allowed (as the conformance runs
 * need), a 16 MiB message limit for section 9, compression of every message
 * when --deflate asks for it.
 */
export async function startXyraEchoServer(opts: EchoServerOptions = {}): Promise<EchoServer> {
  const app = new App({ onError: () => {} });
  app.websocket('/*', {
    message(ws: XyraWebSocket, msg: string | Buffer, opcode: OpCode) {
      ws.send(msg, opcode);
    },
    allowedOrigins: ['*'],
    maxPayloadLength: 16 * 1024 * 1024,
    idleTimeout: 0,
    compression: opts.perMessageDeflate ? { threshold: 0 } : false,
  });
  const port = await app.listen(0, '127.0.0.1');
  return {
    url: `ws://127.0.0.1:${port}/`,
    agent: 'xyra',
    close: () => app.close(),
  };
}

/** Start an echo server of the given kind. */
export function startEchoServer(kind: ServerKind, opts: EchoServerOptions = {}): Promise<EchoServer> {
  return kind === 'ws' ? startWsEchoServer(opts) : startXyraEchoServer(opts);
}
