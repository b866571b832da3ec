import { FloorEcho } from '../../../bench/servers/floor-echo';
import { clientFrame as wireClientFrame, serverFrame } from '../../support/wire';

/** A masked client frame (RFC 6455 5.2) with `key`. */
const clientFrame = (opcode: number, payload: Buffer, key: number[], fin = true): Buffer => wireClientFrame(opcode, payload, fin, 0, Buffer.from(key));

function payload(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Feeds `input` cut at `cuts`, each piece at byte offset `shift` of its own buffer (to vary word alignment). */
function run(input: Buffer, cuts: number[], shift = 0): { out: Buffer; closed: boolean } {
  const e = new FloorEcho();
  const parts: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, input.length]) {
    if (cut <= at) continue;
    const holder = Buffer.alloc(cut - at + shift);
    input.copy(holder, shift, at, cut);
    const chunk = holder.subarray(shift);
    parts.push(Buffer.from(e.push(chunk)));
    at = cut;
  }
  return { out: Buffer.concat(parts), closed: e.closed };
}

const KEYS = [
  [0x37, 0xfa, 0x21, 0x3d],
  [0x00, 0xff, 0x80, 0x01],
];

// (name, [opcode, size, fin]) frames in order; a close frame ends the stream.
const STREAMS: Array<[string, Array<[number, number, boolean]>]> = [
  ['16 B text', [[1, 16, true]]],
  ['empty binary', [[2, 0, true]]],
  ['125 and 126 B', [[2, 125, true], [2, 126, true]]],
  ['1 KiB binary', [[2, 1024, true]]],
  ['64 KiB binary (16-bit length)', [[2, 65535, true]]],
  ['64 KiB binary (64-bit length)', [[2, 65536, true]]],
  ['fragmented text then close', [[1, 40, false], [0, 40, true], [8, 2, true]]],
  ['16 B, 1 KiB, 64 KiB back to back', [[1, 16, true], [2, 1024, true], [2, 65536, true], [1, 16, true]]],
];

function build(frames: Array<[number, number, boolean]>, key: number[]): { input: Buffer; expected: Buffer } {
  const ins: Buffer[] = [];
  const outs: Buffer[] = [];
  frames.forEach(([op, size, fin], i) => {
    const p = payload(size, i + 1);
    ins.push(clientFrame(op, p, key, fin));
    outs.push(serverFrame(op, p, fin));
  });
  return { input: Buffer.concat(ins), expected: Buffer.concat(outs) };
}

describe('FloorEcho: masked client frames in, unmasked server frames out (RFC 6455 5.1, 5.3)', () => {
  describe.each(STREAMS)('%s', (_name, frames) => {
    it.each(KEYS.map((k) => [k.map((x) => x.toString(16)).join(' '), k]))('key %s: whole, one byte at a time, misaligned', (_k, key) => {
      const { input, expected } = build(frames, key as number[]);
      expect(run(input, []).out.equals(expected)).toBe(true);
      const everyByte = Array.from({ length: input.length }, (_, i) => i);
      // One-byte chunks carry no word-wise runs, so one alignment is enough for the large streams.
      for (const shift of input.length > 4096 ? [1] : [0, 1, 3]) expect(run(input, everyByte, shift).out.equals(expected)).toBe(true);
      for (const shift of [1, 2, 3]) expect(run(input, [], shift).out.equals(expected)).toBe(true);
    });

    it('split in two at every byte (large payloads: every header byte and the payload edges)', () => {
      const { input, expected } = build(frames, KEYS[0]);
      const points: number[] = [];
      if (input.length <= 4096) for (let i = 1; i < input.length; i++) points.push(i);
      else {
        // Each frame's header region and payload edges, where the state changes.
        let at = 0;
        for (const [, size] of frames) {
          const head = (size < 126 ? 2 : size < 65536 ? 4 : 10) + 4;
          for (let i = 0; i <= head + 40 && at + i < input.length; i++) points.push(at + i);
          for (let i = size + head - 40; i < size + head; i++) if (i > head + 40) points.push(at + i);
          at += head + size;
        }
      }
      for (const cut of points) {
        for (const shift of [0, 2]) {
          const got = run(input, [cut], shift).out;
          if (!got.equals(expected)) throw new Error(`split at ${cut} (shift ${shift}): output differs`);
        }
      }
    });
  });

  it('answers in place: the output is a view of the chunk when no header spans chunks', () => {
    const { input, expected } = build([[1, 16, true], [2, 300, true]], KEYS[0]);
    const e = new FloorEcho();
    const out = e.push(input);
    expect(out.buffer).toBe(input.buffer);
    expect(out.byteOffset).toBe(input.byteOffset);
    expect(out.equals(expected)).toBe(true);
  });

  it.each([
    ['a complete close frame', [[8, 2, true]], true],
    ['data only', [[1, 5, true]], false],
    ['a close frame cut before its payload', [[8, 2, true]], false],
  ] as Array<[string, Array<[number, number, boolean]>, boolean]>)('closed after %s: %p', (name, frames, closed) => {
    const { input } = build(frames, KEYS[1]);
    const cut = name.includes('cut') ? input.subarray(0, input.length - 1) : input;
    expect(run(cut, []).closed).toBe(closed);
  });

  it.each([
    // frames before the close, cut points, expected closeAt per push
    ['data then close in one chunk', [[2, 10, true], [8, 2, true]], [], [16 - 4]],
    ['close alone', [[8, 2, true]], [], [0]],
    ['close header in one chunk, payload in the next', [[1, 3, true], [8, 2, true]], [9 + 6], [5, 0]],
    ['no close', [[1, 3, true]], [], [-1]],
  ] as Array<[string, Array<[number, number, boolean]>, number[], number[]]>)('closeAt: %s', (_name, frames, cuts, expected) => {
    const { input } = build(frames, KEYS[0]);
    const e = new FloorEcho();
    const got: number[] = [];
    let at = 0;
    for (const cut of [...cuts, input.length]) {
      e.push(Buffer.from(input.subarray(at, cut)));
      got.push(e.closeAt);
      at = cut;
    }
    expect(got).toEqual(expected);
  });

  it('a header split across chunks yields nothing until it is complete, then the header and payload', () => {
    const { input, expected } = build([[2, 1024, true]], KEYS[0]);
    const e = new FloorEcho();
    expect(e.push(Buffer.from(input.subarray(0, 3))).length).toBe(0);
    const rest = e.push(Buffer.from(input.subarray(3)));
    expect(rest.equals(expected)).toBe(true);
  });
});
