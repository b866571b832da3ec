import { DepthSlots } from '../../pubsub/depth-slots';
import { InMemoryBroker } from '../../pubsub/broker';

describe('DepthSlots: one reusable state per nesting depth', () => {
  test('the same depth gets the same object again; a nested call gets its own', () => {
    let made = 0;
    const slots = new DepthSlots(() => ({ id: made++ }));
    const a = slots.enter();
    slots.leave();
    expect(slots.enter()).toBe(a); // reused: nothing allocated per call
    const inner = slots.enter();
    expect(inner).not.toBe(a);
    slots.leave();
    expect(slots.enter()).toBe(inner);
    slots.leave();
    slots.leave();
    expect(made).toBe(2);
  });
});

describe('InMemoryBroker.publish re-entered from deliver', () => {
  const sock = (name: string) => ({ name, inbox: [] as string[] });
  type Sock = ReturnType<typeof sock>;

  // Each row: what the nested publish does -> outer recipients, and every inbox after.
  test.each([
    ['returns normally', false],
    ['throws (caught by the outer deliver)', true],
  ])('a nested publish that %s leaves the outer publish intact', (_name, innerThrows) => {
    const b = new InMemoryBroker<Sock>();
    const [a, c, d] = ['a', 'c', 'd'].map(sock);
    b.subscribe(a, 'outer');
    b.subscribe(c, 'outer');
    b.subscribe(d, 'inner');
    const deliver = (s: Sock, m: unknown): void => {
      s.inbox.push(String(m));
      if (m === 'O' && s === a) {
        try {
          b.publish('inner', 'I', null, innerThrows ? () => { throw new Error('inner'); } : deliver);
        } catch {
          // the outer publish goes on
        }
      }
    };
    expect(b.publish('outer', 'O', null, deliver)).toBe(2);
    expect([a.inbox, c.inbox, d.inbox]).toEqual([['O'], ['O'], innerThrows ? [] : ['I']]);
    // The next top-level publish starts clean at depth 0.
    expect(b.publish('outer', 'P', c, deliver)).toBe(1);
  });
});
