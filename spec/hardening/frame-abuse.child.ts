/**
 * The victim of frame-abuse.test.ts's memory cases, in its own process so
 * its memory can be measured alone: `node --expose-gc -r
 * ts-node/register/transpile-only frame-abuse.child.ts server|client [port]`.
 *
 * server: an App with one route (maxPayloadLength 4096) on port 0; reports
 * { type: 'port' }. client: connect() to ws://127.0.0.1:port/ws with the same
 * limit. Either way it reports (IPC) { type: 'baseline' } when the connection
 * opens, { type: 'measure' } when it receives a ping whose payload is
 * 'sentinel' (every byte sent before that ping has been parsed by then), and
 * { type: 'message', length } for each message. memory = heapUsed +
 * arrayBuffers after two full GCs.
 */
import { App, type AppBehavior } from '../../lib/app';
import { connect } from '../../lib/client';

const LIMIT = 4096;

function memory(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function report(msg: object): void {
  process.send!(msg);
}

const behavior: AppBehavior = {
  maxPayloadLength: LIMIT,
  open: () => report({ type: 'baseline', memory: memory() }),
  ping: (_ws, data) => {
    if (data.toString() === 'sentinel') report({ type: 'measure', memory: memory() });
  },
  message: (_ws, message) => report({ type: 'message', length: message.length }),
  close: (_ws, code) => report({ type: 'close', code }),
};

async function main(): Promise<void> {
  const [role, port] = process.argv.slice(2);
  if (role === 'server') {
    const app = new App();
    app.websocket('/ws', behavior);
    report({ type: 'port', port: await app.listen(0, '127.0.0.1') });
  } else {
    await connect(`ws://127.0.0.1:${port}/ws`, behavior);
  }
  // The parent ends this process; exit by itself if the parent goes away.
  process.on('disconnect', () => process.exit(0));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
