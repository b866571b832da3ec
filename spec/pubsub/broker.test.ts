import { UsageError } from '../../errors';
import { Broker, InMemoryBroker } from '../../pubsub/broker';
import * as pubsub from '../../pubsub';
import type { SubscribeOptions } from '../../pubsub';

const P: SubscribeOptions = { pattern: true };

interface Sock {
  id: string;
  inbox: unknown[];
}
const sock = (id: string): Sock => ({ id, inbox: [] });
const deliver = (s: Sock, m: unknown): void => {
  s.inbox.push(m);
};

type Change = [string, string, number, number];

function withLog(): { broker: InMemoryBroker<Sock>; log: Change[] } {
  const log: Change[] = [];
  const broker = new InMemoryBroker<Sock>({
    onSubscriptionChange: (s, topic, n, old) => log.push([s.id, topic, n, old]),
  });
  return { broker, log };
}

describe('InMemoryBroker', () => {
  test('is usable through the Broker interface and the package index', () => {
    const b: Broker<Sock> = new pubsub.InMemoryBroker<Sock>();
    const a = sock('a');
    expect(b.subscribe(a, 'room1')).toBe(true);
    expect(b.publish('room1', 'hi', null, deliver)).toBe(1);
    expect(a.inbox).toEqual(['hi']);
    expect(typeof pubsub.TopicTrie).toBe('function');
    expect(typeof pubsub.validateTopic).toBe('function');
  });

  test('publish delivers once per matching subscriber, honours exclude, counts recipients', () => {
    const b = new InMemoryBroker<Sock>();
    const [a, c, d] = ['a', 'c', 'd'].map(sock);
    b.subscribe(a, 'chat/general');
    b.subscribe(a, 'chat/#', P);
    b.subscribe(c, 'chat/+', P);
    b.subscribe(d, 'news');
    expect(b.publish('chat/general', 'm1', null, deliver)).toBe(2);
    expect(b.publish('chat/general', 'm2', a, deliver)).toBe(1);
    expect(b.publish('chat/general', 'm3', d, deliver)).toBe(2); // excluding a non-recipient
    expect(b.publish('nobody/here', 'm4', null, deliver)).toBe(0);
    expect(a.inbox).toEqual(['m1', 'm3']);
    expect(c.inbox).toEqual(['m1', 'm2', 'm3']);
    expect(d.inbox).toEqual([]);
  });

  test('publish rejects wildcard and invalid topics', () => {
    const b = new InMemoryBroker<Sock>();
    b.subscribe(sock('a'), '#', P);
    expect(() => b.publish('a/+', 'x', null, deliver)).toThrow(UsageError);
    expect(() => b.publish('#', 'x', null, deliver)).toThrow(/cannot publish/);
    expect(() => b.publish('', 'x', null, deliver)).toThrow(UsageError);
    expect(() => b.subscribe(sock('a'), 'a/#/b', P)).toThrow(UsageError);
  });

  test('limits pass through to the trie', () => {
    const b = new InMemoryBroker<Sock>({ maxDepth: 2, maxTopicLength: 8 });
    expect(() => b.subscribe(sock('a'), 'a/b/c')).toThrow(/more than 2 levels/);
    expect(() => b.publish('123456789', 1, null, deliver)).toThrow(/limit is 8/);
  });

  test('bookkeeping delegates: isSubscribed, topicsOf, numSubscribers, unsubscribeAll', () => {
    const b = new InMemoryBroker<Sock>();
    const [a, c] = ['a', 'c'].map(sock);
    b.subscribe(a, 'x');
    b.subscribe(a, 'y/+', P);
    b.subscribe(c, 'x');
    expect(b.isSubscribed(a, 'y/+', P)).toBe(true);
    expect(b.isSubscribed(c, 'y/+', P)).toBe(false);
    expect(b.topicsOf(a)).toEqual(['x', 'y/+']);
    expect(b.numSubscribers('x')).toBe(2);
    expect(b.numSubscribers('y/+')).toBe(1);
    expect(b.numSubscribers('y/z')).toBe(0); // exact string, not matching
    expect(b.unsubscribe(a, 'x')).toBe(true);
    expect(b.unsubscribe(a, 'x')).toBe(false);
    expect(b.unsubscribeAll(a)).toBe(1);
    expect(b.unsubscribeAll(a)).toBe(0);
    expect(b.numSubscribers('x')).toBe(1);
    expect(b.trie.nodeCount()).toBe(1);
  });

  test('presence hook: values for subscribe, unsubscribe and unsubscribeAll', () => {
    const { broker: b, log } = withLog();
    const [a, c] = ['a', 'c'].map(sock);
    b.subscribe(a, 'room');
    b.subscribe(a, 'room'); // no change: no call
    b.subscribe(c, 'room');
    b.subscribe(a, 'chat/#', P);
    b.unsubscribe(a, 'room');
    b.unsubscribe(a, 'room'); // no change: no call
    b.subscribe(c, 'chat/#', P);
    expect(b.unsubscribeAll(c)).toBe(2);
    b.unsubscribeAll(c); // nothing left: no call
    b.unsubscribe(a, 'chat/#', P);
    const want: Change[] = [
      ['a', 'room', 1, 0],
      ['c', 'room', 2, 1],
      ['a', 'chat/#', 1, 0],
      ['a', 'room', 1, 2],
      ['c', 'chat/#', 2, 1],
      ['c', 'room', 0, 1],
      ['c', 'chat/#', 1, 2],
      ['a', 'chat/#', 0, 1],
    ];
    expect(log).toEqual(want);
  });

  test('presence hook sees the updated state; a throwing hook does not half-unsubscribe', () => {
    const seen: Array<[string, boolean]> = [];
    let throwOn = '';
    const b: InMemoryBroker<Sock> = new InMemoryBroker<Sock>({
      onSubscriptionChange: (s, topic) => {
        seen.push([topic, b.isSubscribed(s, topic)]);
        if (topic === throwOn) throw new Error('hook failed');
      },
    });
    const a = sock('a');
    b.subscribe(a, 'one');
    b.subscribe(a, 'two');
    b.subscribe(a, 'three');
    expect(seen).toEqual([
      ['one', true],
      ['two', true],
      ['three', true],
    ]);
    throwOn = 'one';
    expect(() => b.unsubscribeAll(a)).toThrow('hook failed');
    expect(b.topicsOf(a)).toEqual([]);
    expect(b.numSubscribers('two')).toBe(0);
  });

  test('deliver may publish again (re-entrant) and (un)subscribe; recipients fixed at call time', () => {
    const b = new InMemoryBroker<Sock>();
    const [a, c, late] = ['a', 'c', 'late'].map(sock);
    b.subscribe(a, 'ping');
    b.subscribe(c, 'ping');
    b.subscribe(a, 'pong');
    const nested: number[] = [];
    const outer = b.publish('ping', 'P', null, (s, m) => {
      s.inbox.push(m);
      if (s === a) {
        b.subscribe(late, 'ping');
        b.unsubscribe(c, 'ping');
        nested.push(b.publish('pong', 'Q', c, deliver));
      }
    });
    expect(outer).toBe(2);
    expect(nested).toEqual([1]);
    expect(a.inbox).toEqual(['P', 'Q']);
    expect(c.inbox).toEqual(['P']); // removed during delivery: still got this one
    expect(late.inbox).toEqual([]); // added during delivery: did not
    expect(b.publish('ping', 'R', null, deliver)).toBe(2);
    expect(late.inbox).toEqual(['R']);
    expect(c.inbox).toEqual(['P']);
  });

  test('a throwing deliver propagates and leaves the broker usable', () => {
    const b = new InMemoryBroker<Sock>();
    const a = sock('a');
    b.subscribe(a, 't');
    expect(() =>
      b.publish('t', 1, null, () => {
        throw new Error('socket exploded');
      }),
    ).toThrow('socket exploded');
    expect(b.publish('t', 2, null, deliver)).toBe(1);
    expect(a.inbox).toEqual([2]);
  });
  describe('literal vs pattern through the Broker interface (issue 13 item 9)', () => {
    // [subscribe call, publishes, who each publish reaches]: a literal string
    // never widens; a pattern does only when asked for.
    const rows: Array<[string, SubscribeOptions | undefined, Array<[string, number]>]> = [
      ['chat/general', undefined, [['chat/general', 1], ['chat/other', 0]]],
      ['chat/general', P, [['chat/general', 1], ['chat/other', 0]]],
      ['chat/+', P, [['chat/general', 1], ['chat/a/b', 0], ['chat', 0]]],
      ['chat/#', P, [['chat/general', 1], ['chat/a/b', 1], ['chat', 1], ['news', 0]]],
      ['#chat', undefined, [['#chat', 1], ['chat', 0]]],
    ];
    test.each(rows)('subscribe(%j, %p) reaches %j', (topic, options, publishes) => {
      const b: Broker<Sock> = new InMemoryBroker<Sock>();
      const a = sock('a');
      expect(b.subscribe(a, topic, options)).toBe(true);
      for (const [t, n] of publishes) expect([t, b.publish(t, t, null, deliver)]).toEqual([t, n]);
      expect(b.topicsOf(a)).toEqual([topic]);
      expect(b.unsubscribe(a, topic, options)).toBe(true);
      expect(b.topicsOf(a)).toEqual([]);
    });

    test.each(['#', '+', 'chat/#', 'chat/+', '+/general'])('literal %j is refused with the { pattern: true } hint', (topic) => {
      const { broker: b, log } = withLog();
      const a = sock('a');
      expect(() => b.subscribe(a, topic)).toThrow(UsageError);
      expect(() => b.subscribe(a, topic)).toThrow(/pass \{ pattern: true \}/);
      expect(b.publish('chat/general', 'm', null, deliver)).toBe(0);
      expect(b.isSubscribed(a, topic)).toBe(false);
      expect(log).toEqual([]); // no presence change for a refused subscription
    });

    test('presence hook and unsubscribeAll cover both kinds', () => {
      const { broker: b, log } = withLog();
      const [a, c] = ['a', 'c'].map(sock);
      b.subscribe(a, 'room/1');
      b.subscribe(a, 'room/+', P);
      b.subscribe(c, 'room/+', P);
      b.subscribe(c, 'room/1', P); // a wildcard-free pattern is the literal topic
      expect(b.isSubscribed(c, 'room/1')).toBe(true);
      expect(b.isSubscribed(a, 'room/+')).toBe(false);
      expect(b.isSubscribed(a, 'room/+', P)).toBe(true);
      expect(b.numSubscribers('room/1')).toBe(2);
      expect(b.numSubscribers('room/+')).toBe(2);
      expect(b.unsubscribeAll(a)).toBe(2);
      expect(b.unsubscribe(c, 'room/+', P)).toBe(true);
      expect(log).toEqual([
        ['a', 'room/1', 1, 0],
        ['a', 'room/+', 1, 0],
        ['c', 'room/+', 2, 1],
        ['c', 'room/1', 2, 1],
        ['a', 'room/1', 1, 2],
        ['a', 'room/+', 1, 2],
        ['c', 'room/+', 0, 1],
      ]);
      expect(b.trie.nodeCount()).toBe(1);
    });
  });
});
