/**
 * The docs' "Chat Room Sederhana" again, with the Tips' advice "Topics: use
 * pub/sub for scalable broadcasting": instead of a Set of clients, every
 * socket subscribes to the "chat" topic and a message is published to it.
 * `ws.publish` skips the sender, so the docs' `if client != ws` comes for free.
 * Serves the same HTML client (examples/public/chat.html) at GET /.
 * Run: npx ts-node --transpile-only examples/chat-topics.ts (PORT overrides 8000).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type WebSocket, type OpCode } from '../index';

/** Build the topic-based chat: WebSocket on `/chat`, page on `/`. */
export function createChatTopicsApp(): App {
  const app = new App();

  function onOpen(ws: WebSocket) {
    ws.subscribe('chat');
    console.log(`Client connected. Total clients: ${app.numSubscribers('chat')}`);
    ws.send('Welcome to chat room!');
  }

  function onMessage(ws: WebSocket, message: string | Buffer, _opcode: OpCode) {
    console.log(`Received: ${message}`);
    // Broadcast ke semua subscriber kecuali sender
    ws.publish('chat', 'User: ' + message);
  }

  function onClose(_ws: WebSocket, _code: number, _message: string) {
    // A closed socket has already left every topic.
    console.log(`Client disconnected. Total clients: ${app.numSubscribers('chat')}`);
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
  const app = createChatTopicsApp();
  app.listen(Number(process.env.PORT ?? 8000)).then((port) => {
    console.log(`🚀 Chat server running on ws://localhost:${port}/chat`);
    console.log(`   Open http://localhost:${port}/ in two browser tabs and talk.`);
  });
}
