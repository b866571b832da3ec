/**
 * The docs' "Handler Sederhana": a plain function as the route handler. It is
 * called with each new socket (the `open` event) and greets it.
 * Run: npx ts-node --transpile-only examples/simple-handler.ts (PORT overrides 8000).
 */
import { App, type WebSocket } from '../index';

/** Build the app: `/ws` answers every new connection with "Connected!". */
export function createSimpleHandlerApp(): App {
  const app = new App();

  app.websocket('/ws', function handleWebsocket(websocket: WebSocket) {
    websocket.send('Connected!');
  });

  return app;
}

if (require.main === module) {
  const app = createSimpleHandlerApp();
  app.listen(Number(process.env.PORT ?? 8000)).then((port) => {
    console.log(`Listening on ws://localhost:${port}/ws`);
  });
}
