/**
 * Child process for spec/lib/upgrade-hook.test.ts (issue 13.3): an App whose
 * upgrade hook never decides by itself. Prints `{"port":N}` once listening,
 * then, when the hook's signal fires (upgradeTimeout), the memory the process
 * holds beyond its baseline, measured after a full GC while the session and
 * its socket still exist: `{"event":"abort","grown":bytes,"aborted":true}`.
 * Run with --expose-gc.
 */
import { App } from '../../../lib/app';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

function held(): number {
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.external; // external includes arrayBuffers (socket reads)
}

const upgradeTimeout = Number(process.argv[2] ?? 2000);
const app = new App({ onError: () => {} });
app.websocket('/hold', {
  upgradeTimeout,
  upgrade(req) {
    return new Promise<void>((resolve) => {
      req.signal.addEventListener('abort', () => {
        process.stdout.write(JSON.stringify({ event: 'abort', grown: held() - baseline, aborted: req.aborted }) + '\n');
        resolve();
      });
    });
  },
});

let baseline = 0;
app.listen(0, '127.0.0.1').then((port) => {
  held(); // settle what start-up left for the collector
  baseline = held();
  process.stdout.write(JSON.stringify({ port }) + '\n');
});
// The parent ends us; never outlive it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
