import fc from 'fast-check';
import { FrameParser, parseFrames } from '../../frame/parser';
import type { Frame } from '../../frame/parser';
import { ProtocolError } from '../../errors';
import { encodeFrame, RecordingHandler, show } from './helpers';

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  // Data frames: payload up to 4 KiB (crosses the 125 and 1024 boundaries), RSV1 only on a first frame.
  fc
    .record({
      opcode: fc.constantFrom(0, 1, 2),
      payload: fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 120, maxLength: 4096 })),
      fin: fc.boolean(),
      rsv1: fc.boolean(),
    })
    .map((r) => ({ opcode: r.opcode, payload: Buffer.from(r.payload), fin: r.fin, rsv1: r.rsv1 && r.opcode !== 0 })),
  // Control frames: FIN, no RSV1, <= 125 bytes.
  fc
    .record({ opcode: fc.constantFrom(8, 9, 10), payload: fc.uint8Array({ maxLength: 125 }) })
    .map((r) => ({ opcode: r.opcode, payload: Buffer.from(r.payload), fin: true, rsv1: false })),
);

/** Sorted cut points into a stream of `length` bytes. */
function cutsArb(length: number): fc.Arbitrary<number[]> {
  return fc.uniqueArray(fc.integer({ min: 0, max: length }), { maxLength: 20 }).map((c) => c.sort((a, b) => a - b));
}

function chunk(bytes: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(bytes.subarray(prev, cut));
    prev = cut;
  }
  return out;
}

describe('encode -> parse round trip', () => {
  test.each(['server', 'client'] as const)('role %s: identical frames under random chunking', (role) => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 8 }).chain((frames) => {
          // The client masks what it sends to a server; the server sends unmasked.
          const masked = role === 'server';
          const wire = Buffer.concat(frames.flatMap((f) => encodeFrame(f.opcode, f.payload, f.fin, f.rsv1, masked)));
          return fc.tuple(fc.constant(frames), fc.constant(wire), cutsArb(wire.length));
        }),
        ([frames, wire, cuts]) => {
          const parsed = parseFrames(chunk(wire, cuts), { role, rsv1Allowed: true });
          expect(show(parsed)).toEqual(show(frames));
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** Mostly-valid streams with corrupted bytes reach deeper states than uniformly random bytes. */
const hostileArb = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
  fc
    .tuple(fc.array(frameArb, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }))
    .map(([frames, masked, flips]) => {
      const wire = Buffer.concat(frames.flatMap((f) => encodeFrame(f.opcode, f.payload, f.fin, f.rsv1, masked)));
      for (const [at, value] of flips) wire[at % wire.length] = value;
      return wire;
    }),
);

/** A hostile stream with its chunking, a role, whether RSV1 is allowed, and a payload limit. */
const hostileStream = [
  hostileArb.chain((bytes) => fc.tuple(fc.constant(bytes), cutsArb(bytes.length))),
  fc.constantFrom<'server' | 'client'>('server', 'client'),
  fc.boolean(),
  fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 300 })),
] as const;

describe('hostile input', () => {
  test('random bytes in random chunks never throw anything but ProtocolError 1002/1007/1009', () => {
    fc.assert(
      fc.property(
        ...hostileStream,
        ([bytes, cuts], role, rsv1Allowed, maxPayloadLength) => {
          const parser = new FrameParser(new RecordingHandler(), { role, rsv1Allowed, maxPayloadLength });
          let failure: unknown = null;
          for (const piece of chunk(Buffer.from(bytes), cuts)) {
            try {
              parser.push(piece);
            } catch (error) {
              failure = error;
              break;
            }
          }
          if (failure !== null) {
            expect(failure).toBeInstanceOf(ProtocolError);
            expect([1002, 1007, 1009]).toContain((failure as ProtocolError).code);
            // Failed state is sticky.
            expect(() => parser.push(Buffer.alloc(1))).toThrow(failure as Error);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});

/** A handler with the small-frame fast path, reporting it as the three calls it replaces. */
class FastPathHandler extends RecordingHandler {
  fast = 0;
  onSmallDataFrame(opcode: number, fin: boolean, chunk: Buffer, start: number, end: number): void {
    this.fast++;
    this.onDataFrameStart(opcode, fin, false, end - start);
    if (end > start) this.onDataFramePayload(chunk.subarray(start, end));
    this.onDataFrameEnd();
  }
}

/** Events (and the error, if any) of a parse of `pieces` by `handler`. */
function run(handler: RecordingHandler, pieces: Buffer[], opts: { role: 'server' | 'client'; rsv1Allowed: boolean; maxPayloadLength?: number }) {
  const parser = new FrameParser(handler, opts);
  let error: string | null = null;
  for (const piece of pieces) {
    try {
      parser.push(Buffer.from(piece));
    } catch (err) {
      error = err instanceof ProtocolError ? `${err.code} ${err.message}` : String(err);
      break;
    }
  }
  return { events: handler.events, error };
}

describe('the small-frame fast path (FrameHandler.onSmallDataFrame)', () => {
  test('same events and the same error as the general path, for any stream in any chunking', () => {
    let fastCalls = 0;
    fc.assert(
      fc.property(
        ...hostileStream,
        ([bytes, cuts], role, rsv1Allowed, maxPayloadLength) => {
          const opts = { role, rsv1Allowed, maxPayloadLength };
          const fast = new FastPathHandler();
          const a = run(fast, chunk(Buffer.from(bytes), cuts), opts);
          const b = run(new RecordingHandler(), chunk(Buffer.from(bytes), cuts), opts);
          expect(a).toEqual(b);
          fastCalls += fast.fast;
        },
      ),
      { numRuns: 1500 },
    );
    // The fast path was taken (the property is not vacuous).
    expect(fastCalls).toBeGreaterThan(0);
  });

  test('valid streams (masked as the role expects), any chunking: same events; the fast path takes most small frames', () => {
    let fastCalls = 0;
    fc.assert(
      fc.property(
        fc.constantFrom<'server' | 'client'>('server', 'client'),
        fc.array(frameArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (role, frames, rawCuts) => {
          const wire = Buffer.concat(frames.flatMap((f) => encodeFrame(f.opcode, f.payload, f.fin, f.rsv1, role === 'server')));
          const cuts = [...new Set(rawCuts.map((c) => c % (wire.length + 1)))].sort((x, y) => x - y);
          const opts = { role, rsv1Allowed: true };
          const fast = new FastPathHandler();
          expect(run(fast, chunk(wire, cuts), opts)).toEqual(run(new RecordingHandler(), chunk(wire, cuts), opts));
          fastCalls += fast.fast;
        },
      ),
      { numRuns: 800 },
    );
    expect(fastCalls).toBeGreaterThan(100);
  });
});
