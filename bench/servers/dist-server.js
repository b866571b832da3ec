
/**
 * The bench server of bench/servers/xyra-server.ts in plain JavaScript, for a
 * BUILT Xyra (`npm run build` output) given by path, so that two builds (two
 * commits) can be raced with the same generator: bench/compare.ts.
 * Usage: node bench/servers/dist-server.js --lib /path/to/dist/index.js --port 0
 * Prints `PORT=<port>` once listening; exits when stdin closes.
 */
const path = require('node:path');

function flag(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const { App } = require(path.resolve(flag('lib')));
const app = new App();
app.websocket('/sub', { open(ws) { ws.subscribe('bench'); }, allowedOrigins: ['*'], idleTimeout: 0 });
app.websocket('/pub', {
  message(ws, msg, opcode) { app.publish('bench', msg, false, opcode === 2); },
  allowedOrigins: ['*'],
  idleTimeout: 0,
});
app.websocket('/*', { message(ws, msg, opcode) { ws.send(msg, opcode); }, allowedOrigins: ['*'], idleTimeout: 0 });
app.listen(Number(flag('port') || 0), '127.0.0.1').then((port) => {
  process.stdout.write(`PORT=${port}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
  process.on("SIGINT", () => process.exit(0));
});
