/**
 * The docs' "Chat Room Sederhana": a Set of clients, each message broadcast to
 * everyone but the sender. Serves the docs' HTML client at GET /.
 * Run: npm start (PORT overrides 8000).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type WebSocket, type OpCode } from '../index';

export function createChatApp(): App {
  const app = new App();

  // Store connected clients (in production, use proper storage)
  const connectedClients = new Set<WebSocket>();

  function onOpen(ws: WebSocket) {
    connectedClients.add(ws);
    console.log(`Client connected. Total clients: ${connectedClients.size}`);
    ws.send('Welcome to chat room!');
  }

  function onMessage(ws: WebSocket, message: string | Buffer, _opcode: OpCode) {
    console.log(`Received: ${message}`);
    // Broadcast message ke semua clients
    for (const client of connectedClients) {
      if (client !== ws) {
        // Jangan kirim ke sender sendiri
        client.send(`User: ${message}`);
      }
    }
  }

  function onClose(ws: WebSocket, _code: number, _message: string) {
    connectedClients.delete(ws);
    console.log(`Client disconnected. Total clients: ${connectedClients.size}`);
  }

  app.websocket('/chat', {
    open: onOpen,
    message: onMessage,
    close: onClose,
  });

  const page = readFileSync(join(__dirname, 'public', 'chat.html'), 'utf8');
  app.get('/', (_req, res) => res.html(page));
  return app;
}

if (require.main === module) {
  const app = createChatApp();
  const port = Number(process.env.PORT ?? 8000);
  app.listen(port).then((bound) => {
    console.log(`🚀 Chat server running on ws://localhost:${bound}/chat`);
    console.log(`   Open http://localhost:${bound}/ in two browser tabs and talk.`);
  });
}
