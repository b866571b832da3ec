/**
 * The chat on every core: `node:cluster` forks one worker per core, all on one
 * port (the primary hands each new connection to a worker, round-robin), and
 * the workers' pub/sub is joined through RedisBus, so two browser tabs served
 * by different workers talk to each other.
 * Run: npm run start:cluster (PORT, default 8000; REDIS_URL, default
 * redis://127.0.0.1:6379; WORKERS, default one per core).
 * Workers inherit the primary's execArgv (`-r ts-node/register/transpile-only`).
 * Node 20 has no `reusePort`; this primary/worker hand-off is the way to share a port there.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from '../index';
import { RedisBus } from '../lib/redis';

/** One worker's App: the chat room, every message to everyone but the sender, in every worker. */
export function createClusterChatApp(bus: RedisBus): App {
  const app = new App({ bus });
  app.websocket('/chat', {
    open(ws) {
      ws.subscribe('chat');
      ws.send(`Welcome to chat room! (worker ${process.pid})`);
    },
    message(ws, message) {
      ws.publish('chat', `User: ${message}`);
    },
  });
  const page = readFileSync(join(__dirname, 'public', 'chat.html'), 'utf8');
  app.get('/', (_req, res) => res.html(page));
  return app;
}

if (require.main === module) {
  const port = Number(process.env.PORT ?? 8000);
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (cluster.isPrimary) {
    const workers = Number(process.env.WORKERS ?? availableParallelism());
    for (let i = 0; i < workers; i++) cluster.fork();
    cluster.on('exit', (w, code, signal) => {
      if (!stopping) console.log(`worker ${w.process.pid} died (${signal ?? code})`);
    });
    let stopping = false;
    const stop = () => {
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.send('stop');
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    console.log(`primary ${process.pid}: ${workers} workers on http://localhost:${port}/ (Redis ${redisUrl})`);
  } else {
    const bus = new RedisBus({ url: redisUrl });
    const app = createClusterChatApp(bus);
    // Take connections once the bus reads: from then on every publish of any
    // worker reaches this worker's sockets.
    bus
      .ready()
      .then(() => app.listen(port))
      .then(() => console.log(`worker ${process.pid} listening`));
    process.on('message', (m) => {
      if (m === 'stop') app.close().then(() => process.exit(0));
    });
  }
}
