import WsClient from 'ws';
import { createCloseConnectionApp } from '../../examples/close-connection';
import { Harness } from './helpers';

describe('examples/close-connection (Close Connection)', () => {
  const h = new Harness();
  beforeEach(() => h.start(createCloseConnectionApp()));
  afterEach(() => h.closeAll());

  test.each([
    // close() sends an empty close frame; RFC 6455 7.1.5: the peer reports 1005.
    ['/close', 1005, ''],
    ['/close-normal', 1000, 'Normal closure'],
    ['/close-going-away', 1001, 'Going away'],
    // The docs' three calls in a row: only the first counts.
    ['/close-sequence', 1005, ''],
  ])('%s: the client sees code %i and reason %j', async (path, code, reason) => {
    const c = await h.connect(path);
    expect(await c.closed()).toEqual({ code, reason });
    expect(c.messages).toEqual([]);
  });

  test('the ws package client sees 1001 "Going away"', async () => {
    const ws = new WsClient(`${h.base}/close-going-away`);
    const [code, reason] = await new Promise<[number, string]>((resolve, reject) => {
      ws.once('close', (c, r) => resolve([c, r.toString()]));
      ws.once('error', reject);
      setTimeout(() => reject(new Error('no close within 10 s')), 10_000).unref();
    });
    expect([code, reason]).toEqual([1001, 'Going away']);
  });
});
