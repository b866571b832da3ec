import WsClient from 'ws';
import { createChatApp } from '../../examples/chat';
import { Harness } from './helpers';
import { waitFor } from '../lib/helpers';

describe('examples/chat (Chat Room Sederhana)', () => {
  const h = new Harness();
  let log: jest.SpyInstance;
  beforeEach(async () => {
    log = jest.spyOn(console, 'log').mockImplementation(() => {});
    await h.start(createChatApp());
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
    b.ws.send('hi all');
    expect(await a.nextText()).toBe('User: hi all');
    expect(await c.nextText()).toBe('User: hi all');
    // Sentinels: each socket's next message is written after anything "hi all" caused,
    // so it proves B got no copy and A and C got one each.
    c.ws.send('s1');
    expect(await a.nextText()).toBe('User: s1');
    a.ws.send('s2'); // after s1 was handled, so B sees them in this order
    expect(await c.nextText()).toBe('User: s2');
    expect(await b.nextText()).toBe('User: s1');
    expect(await b.nextText()).toBe('User: s2');
    expect(b.texts).toEqual(['Welcome to chat room!', 'User: s1', 'User: s2']);
    expect(a.texts).toEqual(['Welcome to chat room!', 'User: hi all', 'User: s1']);
    expect(c.texts).toEqual(['Welcome to chat room!', 'User: hi all', 'User: s2']);
  });

  test('a ws package client chats with a Xyra client', async () => {
    const x = await join();
    const ws = new WsClient(h.base + '/chat');
    try {
      const got: string[] = [];
      ws.on('message', (d) => got.push((d as Buffer).toString()));
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      await waitFor(() => got.length >= 1, 2000, 'welcome on the ws client');
      x.ws.send('from xyra');
      await waitFor(() => got.length >= 2, 2000, 'broadcast on the ws client');
      expect(got).toEqual(['Welcome to chat room!', 'User: from xyra']);
      ws.send('from ws');
      expect(await x.nextText()).toBe('User: from ws');
    } finally {
      ws.terminate();
    }
  });

  test('the client count in the log follows joins and leaves', async () => {
    const a = await join();
    const b = await join();
    b.ws.close();
    await b.closed();
    const lines = () => log.mock.calls.map((x) => String(x[0]));
    await waitFor(() => lines().includes('Client disconnected. Total clients: 1'), 5000, 'the leave logged');
    a.ws.send('still here');
    await waitFor(() => lines().includes('Received: still here'), 5000, 'the message logged');
    // The server handles one event after the other: nothing else was logged in between.
    expect(lines()).toEqual([
      'Client connected. Total clients: 1',
      'Client connected. Total clients: 2',
      'Client disconnected. Total clients: 1',
      'Received: still here',
    ]);
  });
});
