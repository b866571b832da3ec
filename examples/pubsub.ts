/**
 * The docs' "Publish ke Topic", run when a client connects to `/ws`:
 * subscribe to "room1" and "notifications", leave "room1" again, then publish
 * to both topics. A publish goes to every *other* subscriber (not the sender),
 * so what each client sees:
 * - a client on `/room1` (a listener route added here so the room1 publish
 *   has somebody to reach) gets "Hello everyone in room1!" for every `/ws` connection;
 * - a client already on `/ws` gets "System update available" when another one connects;
 * - the connecting client itself gets nothing.
 * Run: npx ts-node --transpile-only examples/pubsub.ts (PORT overrides 8000).
 */
import { App, type WebSocket } from '../index';

function websocketHandler(websocket: WebSocket) {
  // Subscribe ke topic
  websocket.subscribe('room1');
  websocket.subscribe('notifications');

  // Unsubscribe dari topic
  websocket.unsubscribe('room1');

  // Publish message ke topic
  websocket.publish('room1', 'Hello everyone in room1!');
  // compress=True: deflated for subscribers that negotiated permessage-deflate.
  websocket.publish('notifications', 'System update available', true);
}

/** Build the app: the docs' handler on `/ws`, room1 listeners on `/room1`. */
export function createPubSubApp(): App {
  const app = new App();

  // `compress` only has an effect where permessage-deflate (RFC 7692) was
  // negotiated, so the route offers it; clients without it get plain frames.
  app.websocket('/ws', { open: websocketHandler, compression: true });

  // Not in the docs: somebody in room1 to receive the publish above.
  app.websocket('/room1', (ws) => {
    ws.subscribe('room1');
  });

  return app;
}

if (require.main === module) {
  const app = createPubSubApp();
  app.listen(Number(process.env.PORT ?? 8000)).then((port) => {
    console.log(`Publisher: ws://localhost:${port}/ws`);
    console.log(`room1 listener: ws://localhost:${port}/room1`);
  });
}
