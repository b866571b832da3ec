import { OpCode } from '../../index';
import { createPubSubApp } from '../../examples/pubsub';
import { Harness } from './helpers';
import { waitFor } from '../lib/helpers';
import type { App } from '../../index';

describe('examples/pubsub (Publish ke Topic)', () => {
  const h = new Harness();
  let app: App;
  beforeEach(async () => {
    app = await h.start(createPubSubApp());
  });
  afterEach(() => h.closeAll());
  /** The server ran the open handler (and so its subscribes) of `n` sockets on `topic`. */
  const subscribed = (topic: string, n: number) => waitFor(() => app.numSubscribers(topic) === n, 5000, `${n} on ${topic}`);

  test('a client subscribed to room1 elsewhere receives the room1 publish', async () => {
    const listener = await h.connect('/room1');
    await subscribed('room1', 1);
    const publisher = await h.connect('/ws');
    expect(await listener.next()).toEqual({ data: 'Hello everyone in room1!', opcode: OpCode.TEXT });
    // The publisher left room1 and is alone in notifications: it hears nothing.
    await publisher.roundTrip();
    await listener.roundTrip();
    expect(publisher.messages).toEqual([]);
    expect(listener.messages).toHaveLength(1);
  });

  test('earlier /ws clients get the notification (not room1), the new one gets nothing', async () => {
    const a = await h.connect('/ws');
    await subscribed('notifications', 1);
    const b = await h.connect('/ws');
    expect(await a.nextText()).toBe('System update available');
    await a.roundTrip();
    await b.roundTrip();
    expect(a.texts).toEqual(['System update available']);
    expect(b.messages).toEqual([]);
  });

  test('the compressed notification reaches a permessage-deflate client intact', async () => {
    const a = await h.connect('/ws', { compression: true });
    expect(a.ws.extensions).toMatch(/^permessage-deflate/);
    const plain = await h.connect('/ws');
    await subscribed('notifications', 2);
    await h.connect('/ws', { compression: true });
    expect(await a.nextText()).toBe('System update available');
    expect(await a.nextText()).toBe('System update available');
    expect(await plain.nextText()).toBe('System update available');
    expect(plain.ws.extensions).toBe('');
  });

  test('every /ws connection publishes to room1 once', async () => {
    const listener = await h.connect('/room1');
    await subscribed('room1', 1);
    for (let i = 0; i < 3; i++) await h.connect('/ws');
    for (let i = 0; i < 3; i++) expect(await listener.nextText()).toBe('Hello everyone in room1!');
    await listener.roundTrip();
    expect(listener.messages).toHaveLength(3);
  });
});
