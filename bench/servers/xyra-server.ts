/**
 * Bench server on Xyra: echo with the same opcode; /sub subscribes to
 * 'bench' and anything received on /pub is published to it with
 * `app.publish`; a plain GET / answers "hello". With `--deflate` the echo
 * route negotiates permessage-deflate and compresses every message
 * (`compression: { threshold: 0 }`).
 * Usage: node -r ts-node/register/transpile-only bench/servers/xyra-server.ts --port 0 [--deflate]
 */
import { App } from '../../index';
import { portFromArgs, serveControl, hasFlag } from './control';

async function main(): Promise<void> {
  const app = new App();
  app.websocket('/sub', {
    open(ws) {
      ws.subscribe('bench');
    },
    allowedOrigins: ['*'],
    idleTimeout: 0,
  });
  app.websocket('/pub', {
    message(ws, msg, opcode) {
      app.publish('bench', msg, false, opcode === 2);
    },
    allowedOrigins: ['*'],
    idleTimeout: 0,
  });
  app.websocket('/*', {
    message(ws, msg, opcode) {
      ws.send(msg, opcode);
    },
    allowedOrigins: ['*'],
    idleTimeout: 0,
    compression: hasFlag('deflate') ? { threshold: 0 } : false,
  });
  app.get('/', (req, res) => res.text('hello'));
  const port = await app.listen(portFromArgs(), '127.0.0.1');
  serveControl(port, () => void app.close(), (cmd) => (cmd === 'conns' ? `CONNS=${app.getStats().connections}` : undefined));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
