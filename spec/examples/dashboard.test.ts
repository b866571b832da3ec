import { createDashboardApp, DASHBOARD_TOPICS, type DashboardApp } from '../../examples/dashboard';
import { Harness, type Recorder } from './helpers';
import { waitFor } from '../lib/helpers';

const INTERVAL = 50;
/** Guard for events that come every INTERVAL: generous, since it only catches a hang. */
const GUARD = 10_000;

describe('examples/dashboard (Real-time Dashboard)', () => {
  const h = new Harness();
  let app: DashboardApp;
  let log: jest.SpyInstance;
  beforeEach(async () => {
    log = jest.spyOn(console, 'log').mockImplementation(() => {});
    app = await h.start(createDashboardApp({ intervalMs: INTERVAL }));
  });
  afterEach(async () => {
    await h.closeAll();
    log.mockRestore();
  });

  async function join(): Promise<Recorder> {
    const c = await h.connect('/dashboard');
    expect(JSON.parse(await c.nextText())).toEqual({ type: 'welcome', message: 'Connected to dashboard' });
    return c;
  }

  /** Send a message whose answer is known, and wait for it: everything sent before has been handled. */
  async function sync(c: Recorder): Promise<void> {
    c.ws.send('not json');
    await waitFor(() => c.texts.includes('{"error":"Invalid JSON"}'), GUARD, 'sync answer');
    c.messages.length = 0;
  }

  const metricsOf = (c: Recorder) => c.texts.map((t) => JSON.parse(t)).filter((m) => m.type === 'metrics');

  test('welcome first, then a metrics message within the interval', async () => {
    const before = Date.now() / 1000;
    const c = await join();
    const m = JSON.parse(await c.nextText(GUARD));
    expect(Object.keys(m).sort()).toEqual(['cpu', 'memory', 'timestamp', 'type']);
    expect(m.type).toBe('metrics');
    expect(m.cpu).toBeGreaterThanOrEqual(0);
    expect(m.memory).toBeGreaterThan(0);
    expect(m.memory).toBeLessThanOrEqual(100);
    // Seconds since the epoch, taken while the test ran (an order, not a duration).
    expect(m.timestamp).toBeGreaterThanOrEqual(before);
    expect(m.timestamp).toBeLessThanOrEqual(Date.now() / 1000);
  });

  test.each(['not json', '{"type": "subscribe"', ''])('%j is answered with {"error":"Invalid JSON"}', async (bad) => {
    const c = await join();
    c.ws.send(bad);
    await waitFor(() => c.texts.includes('{"error":"Invalid JSON"}'), GUARD, 'error answer');
    // The connection stays usable.
    expect(c.closeEvent).toBeNull();
  });

  test('unsubscribe stops the metrics, subscribe brings them back', async () => {
    const spy = jest.spyOn(app, 'publishMetrics');
    const c = await join();
    await waitFor(() => metricsOf(c).length > 0, GUARD, 'first metrics');
    c.ws.send(JSON.stringify({ type: 'unsubscribe', topic: 'metrics' }));
    await sync(c);
    // Three publishes after the unsubscribe took effect, then a sentinel on the same
    // socket: any of them that reached this client would have arrived before it.
    const published = spy.mock.calls.length;
    await waitFor(() => spy.mock.calls.length >= published + 3, GUARD, 'three more publishes');
    c.ws.send('not json');
    await waitFor(() => c.texts.includes('{"error":"Invalid JSON"}'), GUARD, 'sentinel answer');
    expect(metricsOf(c)).toEqual([]);
    // The topic defaults to "metrics".
    c.ws.send(JSON.stringify({ type: 'subscribe' }));
    await waitFor(() => metricsOf(c).length > 0, GUARD, 'metrics again');
  });

  test('subscribe to another topic: app.publish reaches it', async () => {
    const c = await join();
    c.ws.send(JSON.stringify({ type: 'subscribe', topic: 'alerts' }));
    await sync(c);
    app.publish('alerts', JSON.stringify({ type: 'alert', message: 'disk full' }));
    await waitFor(() => c.texts.some((t) => t.includes('disk full')), GUARD, 'alert');
  });

  test.each(['42', 'null', '[1,2]', '"subscribe"', '{"type":"dance"}', '{"type":"dance","topic":"#"}'])(
    'valid JSON that is no command (%s) is ignored, the connection stays',
    async (msg) => {
      const c = await join();
      c.ws.send(msg);
      await sync(c);
      expect(c.closeEvent).toBeNull();
    },
  );

  const UNKNOWN = JSON.stringify({ error: 'Unknown topic', topics: ['metrics', 'alerts'] });
  // Topics a client may not choose: wildcards (literal anyway, and refused), other
  // apps' topics, near misses, non-strings. Each is answered, never subscribed.
  const badTopics: unknown[] = ['#', '+', 'metrics/#', 'metrics/+', 'secret', 'Metrics', 'metrics ', '', 'x'.repeat(5000), 7, null, ['metrics']];
  const label = (t: unknown): string => (typeof t === 'string' && t.length > 20 ? `"x" * ${t.length}` : JSON.stringify(t));
  test.each(badTopics.flatMap((topic) => [['subscribe', label(topic), topic], ['unsubscribe', label(topic), topic]]))(
    '%s to %s is answered "Unknown topic" and changes nothing',
    async (type, _label, topic) => {
      expect([...DASHBOARD_TOPICS]).toEqual(['metrics', 'alerts']);
      const c = await join();
      c.ws.send(JSON.stringify({ type, topic }));
      await waitFor(() => c.texts.includes(UNKNOWN), GUARD, 'error answer');
      // Published after the refusal: a subscription to the asked-for name would deliver first.
      app.publish('secret', 'leak');
      app.publish('alerts', 'leak');
      app.publish('metrics', 'sentinel');
      await waitFor(() => c.texts.includes('sentinel'), GUARD, 'sentinel on metrics');
      expect(c.texts).not.toContain('leak');
      expect(c.closeEvent).toBeNull();
      expect(app.numSubscribers('metrics')).toBe(1); // still subscribed, unsubscribe refused too
    },
  );

  test('every subscriber gets the same metrics message', async () => {
    const [a, b] = [await join(), await join()];
    await waitFor(() => metricsOf(a).length > 0 && metricsOf(b).length > 0, GUARD, 'metrics on both');
    const ta = metricsOf(a).map((m) => m.timestamp);
    const tb = metricsOf(b).map((m) => m.timestamp);
    expect(ta.some((t) => tb.includes(t))).toBe(true);
  });

  test('close() stops the metrics timer', async () => {
    // A fake clock for the interval only (sockets and everything else stay real):
    // time is advanced by hand, so "no publish after close" needs no waiting.
    jest.useFakeTimers({ doNotFake: ['Date', 'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout'] });
    try {
      const own = createDashboardApp({ intervalMs: INTERVAL });
      const spy = jest.spyOn(own, 'publishMetrics');
      jest.advanceTimersByTime(3 * INTERVAL);
      expect(spy).toHaveBeenCalledTimes(3);
      await own.close();
      jest.advanceTimersByTime(10 * INTERVAL);
      expect(spy).toHaveBeenCalledTimes(3);
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  test('the default interval is the docs 5 s', () => {
    const spy = jest.spyOn(global, 'setInterval');
    const other = createDashboardApp();
    try {
      expect(spy).toHaveBeenCalledWith(expect.any(Function), 5000);
    } finally {
      spy.mockRestore();
      void other.close();
    }
  });
});
