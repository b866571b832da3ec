import { OpCode } from '../../index';
import { createPubSubApp } from '../../examples/pubsub';
import { Harness, settle } from './helpers';

describe('examples/pubsub (Publish ke Topic)', () => {
  const h = new Harness();
  beforeEach(() => h.start(createPubSubApp()));
  afterEach(() => h.closeAll());

  test('a client subscribed to room1 elsewhere receives the room1 publish', async () => {
    const listener = await h.connect('/room1');
    await settle(); // the listener's open (its subscribe) has run
    const publisher = await h.connect('/ws');
    expect(await listener.next()).toEqual({ data: 'Hello everyone in room1!', opcode: OpCode.TEXT });
    // The publisher left room1 and is alone in notifications: it hears nothing.
    await settle();
    expect(publisher.messages).toEqual([]);
    expect(listener.messages).toHaveLength(1);
  });

  test('earlier /ws clients get the notification (not room1), the new one gets nothing', async () => {
    const a = await h.connect('/ws');
    await settle();
    const b = await h.connect('/ws');
    expect(await a.nextText()).toBe('System update available');
    await settle();
    expect(a.texts).toEqual(['System update available']);
    expect(b.messages).toEqual([]);
  });

  test('the compressed notification reaches a permessage-deflate client intact', async () => {
    const a = await h.connect('/ws', { compression: true });
    expect(a.ws.extensions).toMatch(/^permessage-deflate/);
    const plain = await h.connect('/ws');
    await settle();
    await h.connect('/ws', { compression: true });
    expect(await a.nextText()).toBe('System update available');
    expect(await a.nextText()).toBe('System update available');
    expect(await plain.nextText()).toBe('System update available');
    expect(plain.ws.extensions).toBe('');
  });

  test('every /ws connection publishes to room1 once', async () => {
    const listener = await h.connect('/room1');
    await settle();
    for (let i = 0; i < 3; i++) await h.connect('/ws');
    for (let i = 0; i < 3; i++) expect(await listener.nextText()).toBe('Hello everyone in room1!');
    await settle();
    expect(listener.messages).toHaveLength(3);
  });
});
