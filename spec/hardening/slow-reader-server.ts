/**
 * Child process for slow-reader-memory.test.ts: a Xyra server alone in its
 * process, so its memory is measured without the test runner's. One route
 * echoes messages; its maxBackpressure comes from argv. Protocol on stdout,
 * one JSON object a line: `{ port }` once listening, `{ ready }` once the
 * connection is open and the baseline measured (send nothing before), then
 * `{ report }` once the slow reader has made the server stop reading (over
 * maxBackpressure).
 *
 *   node --expose-gc -r ts-node/register/transpile-only spec/hardening/slow-reader-server.ts <maxBackpressure>
 */
import { App } from '../../lib/app';
import type { WebSocket } from '../../lib/websocket';

const limit = Number(process.argv[2]);
const gc = (globalThis as { gc?: () => void }).gc;
if (!Number.isFinite(limit) || limit <= 0 || gc === undefined) {
  process.stderr.write('usage: node --expose-gc ... slow-reader-server.ts <maxBackpressure>\n');
  process.exit(2);
}

/**
 * What the process holds: V8 heap plus memory outside it (Buffers are there;
 * `external` includes `arrayBuffers`). Two collections a few ms apart: freed
 * backing stores are accounted after the sweep, not at the gc() call.
 */
async function held(): Promise<number> {
  gc!();
  await new Promise((r) => setTimeout(r, 10));
  gc!();
  await new Promise((r) => setTimeout(r, 10));
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

let baseline = 0;
let target: WebSocket | null = null;
const app = new App({ onError: (err) => process.stderr.write(`onError ${err.message}\n`) });
app.websocket('/slow', {
  maxBackpressure: limit,
  idleTimeout: 0,
  open(ws) {
    // Before the first frame: the connection itself is part of the baseline.
    held().then((n) => {
      baseline = n;
      target = ws;
      process.stdout.write(JSON.stringify({ ready: true }) + '\n');
    });
  },
  message(ws, message) {
    ws.send(message);
  },
});

// The server stops reading from a peer over maxBackpressure (lib/websocket.ts),
// after which nothing it holds can grow: measure then.
const poll = setInterval(() => {
  const ws = target;
  if (ws === null || !ws.socket.isPaused() || ws.bufferedAmount <= limit) return;
  clearInterval(poll);
  held().then((now) => {
    const report = { growth: now - baseline, bufferedAmount: ws.bufferedAmount, bytesRead: ws.socket.bytesRead, bytesWritten: ws.socket.bytesWritten };
    process.stdout.write(JSON.stringify({ report }) + '\n');
  });
}, 20);

app.listen(0, '127.0.0.1').then((port) => process.stdout.write(JSON.stringify({ port }) + '\n'));
process.on('disconnect', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
