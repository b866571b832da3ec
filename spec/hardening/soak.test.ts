/**
 * The ~15 s form of spec/hardening/soak.ts: connection churn with a steady
 * publish load; nothing lost, duplicated or reordered, memory back to its
 * post-warm-up level, no handle left open.
 */
import { runSoak, summarize, handleLeaks, MiB } from './soak';

test('soak oracle: a handle that stays open is reported as a leak', () => {
  expect(handleLeaks({ Timeout: 1 }, { Timeout: 3, TCPSocketWrap: 1 })).toEqual({ Timeout: 2, TCPSocketWrap: 1 });
  expect(handleLeaks({ Timeout: 3 }, { Timeout: 1 })).toEqual({});
});

test('15 s of churn: connections and messages flow, nothing lost, memory and handles return', async () => {
  const r = await runSoak({ durationMs: 15_000, workers: 12, publishRate: 200 });
  // eslint-disable-next-line no-console
  console.log(`[hardening] soak ${summarize(r)}`);
  // It did real work (else the memory verdict means nothing).
  expect(r.connections).toBeGreaterThan(500);
  expect(r.publishDeliveries).toBeGreaterThan(1000);
  expect(r.lost).toBe(0);
  expect(r.duplicated).toBe(0);
  expect(r.reordered).toBe(0);
  expect(r.echoErrors).toBe(0);
  expect(r.serverErrors).toEqual([]);
  expect(r.leaks).toEqual({});
  expect(r.heapGrowth).toBeLessThan(Math.max(0.1 * r.baseline.heapUsed, 8 * MiB));
  expect(r.rssGrowth).toBeLessThan(Math.max(0.1 * r.baseline.rss, 48 * MiB));
  expect(r.failures).toEqual([]);
}, 40_000);
