import { createChatTopicsApp } from '../../examples/chat-topics';
import { Harness } from './helpers';
import { waitFor } from '../lib/helpers';

describe('examples/chat-topics (Chat Room with topics)', () => {
  const h = new Harness();
  let log: jest.SpyInstance;
  beforeEach(async () => {
    log = jest.spyOn(console, 'log').mockImplementation(() => {});
    await h.start(createChatTopicsApp());
  });
  afterEach(async () => {
    await h.closeAll();
    log.mockRestore();
  });

  async function join() {
    const c = await h.connect('/chat');
    expect(await c.nextText()).toBe('Welcome to chat room!');
    return c;
  }

  test('three clients: one sends, the other two get "User: ...", the sender nothing', async () => {
    const [a, b, c] = [await join(), await join(), await join()];
    a.ws.send('hello from A');
    expect(await b.nextText()).toBe('User: hello from A');
    expect(await c.nextText()).toBe('User: hello from A');
    // A ping on each socket: its pong comes after anything the publish sent there.
    for (const x of [a, b, c]) await x.roundTrip();
    expect(a.texts).toEqual(['Welcome to chat room!']);
    expect(b.messages).toHaveLength(2);
    expect(c.messages).toHaveLength(2);
  });

  test('a client that left gets nothing more; the count in the log follows', async () => {
    const [a, b, c] = [await join(), await join(), await join()];
    c.ws.close();
    await c.closed();
    b.ws.send('after C left');
    expect(await a.nextText()).toBe('User: after C left');
    // C's connection is gone (closed() resolved): nothing can reach it any more.
    expect(c.texts).toEqual(['Welcome to chat room!']);
    await waitFor(() => log.mock.calls.some((x) => x[0] === 'Client disconnected. Total clients: 2'), 5000, 'the leave logged');
    const lines = log.mock.calls.map((x) => String(x[0]));
    expect(lines.filter((l) => l.startsWith('Client connected'))).toEqual([
      'Client connected. Total clients: 1',
      'Client connected. Total clients: 2',
      'Client connected. Total clients: 3',
    ]);
    expect(lines).toContain('Client disconnected. Total clients: 2');
  });

  test('GET / serves the docs HTML client', async () => {
    const res = await fetch(h.base.replace('ws:', 'http:') + '/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const body = await res.text();
    expect(body).toContain('<div id="messages"></div>');
    expect(body).toContain('/chat');
  });
});
