/**
 * Bench server on Xyra: echo with the same opcode; /sub subscribes to
 * 'bench' and anything received on /pub is published to it with
 * `app.publish`; a plain GET / answers "hello". With `--deflate` the echo
 * route negotiates permessage-deflate and compresses every message
 * (`compression: { threshold: 0 }`). With `--redis <url>` (bench/scale.ts)
 * pub/sub goes through a RedisBus (`--bus-prefix` names its streams, so two
 * servers share them); the control command `out` answers `OUT=<messages sent>`.
 * Usage: node -r ts-node/register/transpile-only bench/servers/xyra-server.ts --port 0 [--deflate] [--redis URL --bus-prefix P]
 */
import { App } from '../../index';
import { RedisBus } from '../../lib/redis';
import { portFromArgs, serveControl, hasFlag } from './control';

/** `--name value` from argv, or undefined. */
function flagValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const redis = flagValue('redis');
  // The Redis client package is loaded only with --redis.
  const bus = redis === undefined ? undefined : new RedisBus({ url: redis, prefix: flagValue('bus-prefix') ?? 'xyra-bench' });
  const app = new App({ bus });
  app.websocket('/sub', {
    open(ws) {
      ws.subscribe('bench');
    },
    allowedOrigins: ['*'],
    idleTimeout: 0,
  });
  app.websocket('/pub', {
    message(_ws, msg, opcode) {
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
  app.get('/', (_req, res) => res.text('hello'));
  const port = await app.listen(portFromArgs(), '127.0.0.1');
  if (bus !== undefined) await bus.ready();
  serveControl(port, () => void app.close(), (cmd) =>
    cmd === 'conns' ? `CONNS=${app.getStats().connections}` : cmd === 'out' ? `OUT=${app.getStats().messagesOut}` : undefined,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
