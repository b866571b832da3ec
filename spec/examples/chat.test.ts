import WsClient from 'ws';
import { createChatApp } from '../../examples/chat';
import { Harness, settle } from './helpers';
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
    await settle();
    expect(b.texts).toEqual(['Welcome to chat room!']);
    expect(a.messages).toHaveLength(2);
    expect(c.messages).toHaveLength(2);
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
    await settle();
    a.ws.send('still here');
    await settle();
    const lines = log.mock.calls.map((x) => String(x[0]));
    expect(lines).toEqual([
      'Client connected. Total clients: 1',
      'Client connected. Total clients: 2',
      'Client disconnected. Total clients: 1',
      'Received: still here',
    ]);
  });
});
