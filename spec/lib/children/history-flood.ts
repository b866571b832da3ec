/**
 * Child process for spec/lib/history/memory-bound.test.ts: an App with
 * in-memory history gets publishes to N distinct topics (the flood a client
 * could cause with topics built from its input); prints the memory held
 * beyond the baseline after a full GC, and the topics kept:
 * `{"grown":bytes,"topics":n}`. Args: N maxTopics maxBytes. Run with --expose-gc.
 */
import { App } from '../../../lib/app';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

function held(): number {
  // Twice: the first collection leaves work (weak references, finalizers) for the second.
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.external; // external includes arrayBuffers (payloads)
}

const [n, maxTopics, maxBytes] = process.argv.slice(2).map(Number);
const app = new App({ history: { size: 10, maxTopics, maxBytes }, onError: () => {} });
const body = 'x'.repeat(200);
app.publish('warm-up', body);
const baseline = held();
for (let i = 0; i < n; i++) app.publish(`flood/${i}`, body);
const grown = held() - baseline;
process.stdout.write(JSON.stringify({ grown, topics: app.hub.memory!.topicCount }) + '\n');
