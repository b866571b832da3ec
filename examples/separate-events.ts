/**
 * The docs' "Handler dengan Events Terpisah": one function per event on
 * `/chat`. open greets with "Welcome!", message echoes "Echo: <message>".
 * Run: npx ts-node --transpile-only examples/separate-events.ts (PORT overrides 8000).
 */
import { App, type WebSocket, type OpCode } from '../index';

function onOpen(ws: WebSocket) {
  console.log('Client connected');
  ws.send('Welcome!');
}

function onMessage(ws: WebSocket, message: string | Buffer, _opcode: OpCode) {
  console.log(`Received: ${message}`);
  ws.send(`Echo: ${message}`);
}

function onClose(_ws: WebSocket, _code: number, _message: string) {
  console.log('Client disconnected');
}

/** Build the app with the three handlers on `/chat`. */
export function createSeparateEventsApp(): App {
  const app = new App();

  app.websocket('/chat', {
    open: onOpen,
    message: onMessage,
    close: onClose,
  });

  return app;
}

if (require.main === module) {
  const app = createSeparateEventsApp();
  app.listen(Number(process.env.PORT ?? 8000)).then((port) => {
    console.log(`Listening on ws://localhost:${port}/chat`);
  });
}
