/**
 * The docs' "Check Connection Status": `ws.closed` before sending. The same
 * handler runs on open (the connection is active: it sends) and again on
 * close (the connection is closed: it logs and returns), so both branches show.
 * Run: npx ts-node --transpile-only examples/check-status.ts (PORT overrides 8000).
 */
import { App, type WebSocket } from '../index';

function websocketHandler(websocket: WebSocket) {
  if (websocket.closed) {
    console.log('Connection is closed');
    return;
  }

  // Connection masih aktif
  websocket.send('Connection is active');
}

/** Build the app: `/ws` checks the status on open and on close. */
export function createCheckStatusApp(): App {
  const app = new App();
  app.websocket('/ws', {
    open: websocketHandler,
    // Not in the docs: run the check once more when the socket is gone.
    close: (ws) => websocketHandler(ws),
  });
  return app;
}

if (require.main === module) {
  const app = createCheckStatusApp();
  app.listen(Number(process.env.PORT ?? 8000)).then((port) => {
    console.log(`Listening on ws://localhost:${port}/ws`);
  });
}
