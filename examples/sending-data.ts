/**
 * The docs' "Mengirim Data": the four ways to send, each run once when a
 * client connects to `/ws`. The client receives, in order:
 * "Hello World" (text), "Text message" (text), "Binary data" (binary), "Data" (text).
 * Run: npx ts-node --transpile-only examples/sending-data.ts (PORT overrides 8000).
 */
import { App, OpCode, type WebSocket } from '../index';

function websocketHandler(websocket: WebSocket) {
  // Send text message
  websocket.send('Hello World');
  websocket.send_text('Text message');

  // Send binary data (Python's b"..." is a Buffer here)
  websocket.send_binary(Buffer.from('Binary data'));

  // Send dengan opcode tertentu (OpCode comes from xyra itself, not socketify)
  websocket.send('Data', OpCode.TEXT);
}

/** Build the app: `/ws` runs the handler for every new connection. */
export function createSendingDataApp(): App {
  const app = new App();
  app.websocket('/ws', websocketHandler);
  return app;
}

if (require.main === module) {
  const app = createSendingDataApp();
  app.listen(Number(process.env.PORT ?? 8000)).then((port) => {
    console.log(`Listening on ws://localhost:${port}/ws`);
  });
}
