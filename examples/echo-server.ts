/**
 * An echo server for conformance runs (Autobahn|Testsuite, the project's own
 * probe): every message goes back with its type, on any path, from any
 * origin, up to 16 MiB, with no idle timeout. `--deflate` turns on
 * permessage-deflate (RFC 7692).
 * Run: npx ts-node --transpile-only examples/echo-server.ts [--deflate]
 * (PORT overrides 8000, HOST the interface).
 */
import { App } from '../index';

/** Options of {@link createEchoServerApp}. */
export interface EchoServerOptions {
  /** Negotiate permessage-deflate. Default false. */
  deflate?: boolean;
}

/** Build the echo app on `/*`. */
export function createEchoServerApp(options: EchoServerOptions = {}): App {
  const app = new App();

  app.websocket('/*', {
    message(ws, m, op) {
      ws.send(m, op);
    },
    // Test suites connect with arbitrary Origin headers.
    allowedOrigins: ['*'],
    // Autobahn's 9.x cases send messages of up to 16 MiB.
    maxPayloadLength: 16 * 1024 * 1024,
    // Cases may pause longer than any sensible idle timeout.
    idleTimeout: 0,
    compression: options.deflate === true,
  });

  return app;
}

if (require.main === module) {
  const deflate = process.argv.includes('--deflate');
  const app = createEchoServerApp({ deflate });
  const host = process.env.HOST;
  app.listen(Number(process.env.PORT ?? 8000), host).then((port) => {
    console.log(`Echo server on ws://${host ?? 'localhost'}:${port}/${deflate ? ' (permessage-deflate on)' : ''}`);
  });
}
