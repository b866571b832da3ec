/**
 * The docs' "Close Connection": the three forms of close().
 *
 * The docs call all three in a row, but a WebSocket closes only once: the
 * first close() sends the close frame (RFC 6455 5.5.1) and the later calls do
 * nothing. So each form gets its own route here; `/close-sequence` runs the
 * docs' sequence verbatim to show that only the first call counts.
 *
 * - `/close`            close()                       -> the client sees 1005 (no status code) and ''
 * - `/close-normal`     close(1000, 'Normal closure') -> 1000 'Normal closure'
 * - `/close-going-away` close(1001, 'Going away')     -> 1001 'Going away'
 * - `/close-sequence`   all three, in order           -> 1005 '' (as /close)
 * Run: npx ts-node --transpile-only examples/close-connection.ts (PORT overrides 8000).
 */
import { App, type WebSocket } from '../index';

/** Build the app with one route per close form. */
export function createCloseConnectionApp(): App {
  const app = new App();

  // Close dengan status normal (an empty close frame: the peer reports 1005)
  app.websocket('/close', (websocket: WebSocket) => {
    websocket.close();
  });

  // Close dengan code dan message
  app.websocket('/close-normal', (websocket: WebSocket) => {
    websocket.close(1000, 'Normal closure');
  });

  // Close dengan code error
  app.websocket('/close-going-away', (websocket: WebSocket) => {
    websocket.close(1001, 'Going away');
  });

  // The docs' sample as written: the second and third calls are no-ops.
  app.websocket('/close-sequence', (websocket: WebSocket) => {
    websocket.close();
    websocket.close(1000, 'Normal closure');
    websocket.close(1001, 'Going away');
  });

  return app;
}

if (require.main === module) {
  const app = createCloseConnectionApp();
  app.listen(Number(process.env.PORT ?? 8000)).then((port) => {
    for (const path of ['/close', '/close-normal', '/close-going-away', '/close-sequence']) {
      console.log(`ws://localhost:${port}${path}`);
    }
  });
}
