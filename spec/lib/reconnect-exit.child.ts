/**
 * Child of spec/lib/reconnect.test.ts: a reconnecting client against a port
 * that refuses, with a 60 s retry delay; close() on the first 'reconnecting'.
 * The process must then exit by itself (nothing left: no timer, no socket).
 */
import { connect } from '../../lib/client';

async function main(): Promise<void> {
  const port = Number(process.argv[2]);
  const ws = await connect(`ws://127.0.0.1:${port}/ws`, { reconnect: { minDelay: 60_000, jitter: 0 } });
  ws.on('reconnecting', (attempt, delay) => {
    console.log(`reconnecting ${attempt} ${delay}`);
    ws.close();
  });
  ws.on('close', (code) => console.log(`close ${code}`));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
