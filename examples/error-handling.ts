/**
 * The docs' "Error Handling" on `/ws`: guard each handler with try/catch.
 * - open: "Welcome!"; if setting up fails, close with 1011 "Internal error"
 *   (RFC 6455 7.4.1: the server hit an unexpected condition).
 * - message: over 1000 characters -> "Message too long"; otherwise
 *   "Processed: <message>"; if processing fails -> "Error processing message".
 *
 * The docs leave "# Setup initial state" and "# Process message..." as
 * comments; here they are the optional `setup` and `process` hooks, so the
 * error paths can be shown (and tested) with a hook that throws.
 * Run: npx ts-node --transpile-only examples/error-handling.ts (PORT overrides 8000).
 */
import { App, type WebSocket, type OpCode } from '../index';

/** Options of {@link createErrorHandlingApp}. */
export interface ErrorHandlingOptions {
  /** "Setup initial state" for a new connection; a throw closes it with 1011. */
  setup?(ws: WebSocket): void;
  /** "Process message": returns what follows "Processed: "; a throw answers "Error processing message". */
  process?(message: string | Buffer): string;
}

/** Longest message processed, in characters (bytes for binary messages). */
export const MAX_MESSAGE_LENGTH = 1000;

/** Build the app with the docs' guarded handlers on `/ws`. */
export function createErrorHandlingApp(options: ErrorHandlingOptions = {}): App {
  const app = new App();
  const setup = options.setup ?? (() => {});
  const processMessage = options.process ?? ((message: string | Buffer) => String(message));

  function onOpen(ws: WebSocket) {
    try {
      ws.send('Welcome!');
      // Setup initial state
      setup(ws);
    } catch (e) {
      console.log(`Error in on_open: ${e}`);
      ws.close(1011, 'Internal error');
    }
  }

  function onMessage(ws: WebSocket, message: string | Buffer, _opcode: OpCode) {
    try {
      // Process message (JS counts UTF-16 units where Python counts code points)
      if (message.length > MAX_MESSAGE_LENGTH) {
        ws.send('Message too long');
        return;
      }

      // Process message...
      ws.send(`Processed: ${processMessage(message)}`);
    } catch (e) {
      console.log(`Error processing message: ${e}`);
      ws.send('Error processing message');
    }
  }

  app.websocket('/ws', {
    open: onOpen,
    message: onMessage,
  });

  return app;
}

if (require.main === module) {
  const app = createErrorHandlingApp();
  app.listen(Number(process.env.PORT ?? 8000)).then((port) => {
    console.log(`Listening on ws://localhost:${port}/ws`);
  });
}
