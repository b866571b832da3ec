/**
 * Reusable state for a call that may re-enter itself: a publish whose
 * `deliver` publishes again. One state object per nesting depth, made on
 * first use and kept, so a publish allocates nothing and a nested publish
 * never overwrites the state of the one it runs inside (no save and restore).
 * InMemoryBroker.publish uses it; so can any other per-publish state, such as
 * the outgoing frame lib/pubsub-hub.ts builds once for all recipients.
 */
export class DepthSlots<T> {
  private readonly slots: T[] = [];
  private depth = 0;

  /** @param make creates the state for a depth not reached before. */
  constructor(private readonly make: () => T) {}

  /** The state for a call starting now; every enter() is paired with a {@link leave} in a `finally`. */
  enter(): T {
    const d = this.depth++;
    if (d === this.slots.length) this.slots.push(this.make());
    return this.slots[d];
  }

  /** The call that last entered has returned or thrown. */
  leave(): void {
    this.depth--;
  }
}
