/**
 * Shared plumbing for the bench servers: the port from argv/env, the
 * `PORT=<n>` line, and a stdin control channel (`rss` -> `RSS=<bytes>` after a
 * forced GC when started with --expose-gc; `heap` -> `HEAP=<heapUsed+external>`;
 * `cpu` -> `CPU=<user+system µs>`;
 * `exit` or EOF ends the process).
 */

/** Port from `--port N`, then $PORT, else 0 (pick one). */
export function portFromArgs(): number {
  const i = process.argv.indexOf('--port');
  if (i > 0 && i + 1 < process.argv.length) return Number(process.argv[i + 1]);
  return Number(process.env.PORT ?? 0);
}

/** True when `--name` is on the command line (e.g. `--deflate`). */
export function hasFlag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

/** A full GC: node's --expose-gc hook, or Bun.gc(true) under Bun; undefined when neither exists. */
function fullGc(): (() => void) | undefined {
  const g = globalThis as { gc?: () => void; Bun?: { gc(sync: boolean): void } };
  if (typeof g.gc === 'function') return g.gc;
  if (g.Bun !== undefined) return () => g.Bun!.gc(true);
  return undefined;
}

/** Announces the port and serves control commands; `stop` is called on exit/EOF. */
export function serveControl(port: number, stop: () => void, extra?: (cmd: string) => string | undefined): void {
  process.stdout.write(`PORT=${port}\n`);
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const cmd = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (cmd === 'rss') {
        const gc = fullGc();
        // Two passes: the first can leave finalizable garbage for the second.
        gc?.();
        gc?.();
        process.stdout.write(`RSS=${process.memoryUsage().rss}\n`);
      } else if (cmd === 'heap') {
        // JS heap plus off-heap buffers: steadier than RSS, blind to native (libuv) memory.
        fullGc()?.();
        const m = process.memoryUsage();
        process.stdout.write(`HEAP=${m.heapUsed + m.external}\n`);
      } else if (cmd === 'cpu') {
        const u = process.cpuUsage();
        process.stdout.write(`CPU=${u.user + u.system}\n`);
      } else if (cmd === 'exit') {
        stop();
        process.exit(0);
      } else if (cmd !== '') {
        const out = extra?.(cmd);
        process.stdout.write(out !== undefined ? out + '\n' : `ERR unknown command ${cmd}\n`);
      }
    }
  });
  process.stdin.on('end', () => {
    stop();
    process.exit(0);
  });
  process.on('SIGTERM', () => {
    stop();
    process.exit(0);
  });
}
