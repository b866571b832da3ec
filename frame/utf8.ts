/**
 * UTF-8 validation for TEXT messages and close reasons (RFC 6455 8.1: a
 * text payload that is not valid UTF-8 fails the connection with 1007).
 *
 * Text messages arrive in fragments and fragments arrive in chunks, so the
 * validator is a streaming DFA (byte class + transition table, the shape of
 * Hoehrmann's decoder) that keeps its state across calls. Each state encodes
 * exactly which bytes may come next, so an invalid sequence fails on the
 * first byte that makes it impossible (RFC 3629 4, Table 3-7 of Unicode):
 * overlongs (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code
 * points above U+10FFFF (F4 90..BF, F5..FF).
 */

import * as nodeBuffer from 'node:buffer';

/** `buffer.isUtf8` (Node >= 18.14, simdutf): much faster than JS on all but tiny inputs. */
const nativeIsUtf8: ((input: Buffer) => boolean) | undefined = (
  nodeBuffer as unknown as { isUtf8?: (input: Buffer) => boolean }
).isUtf8;

/**
 * Below these lengths the JS DFA beats `isUtf8`: the native call costs a
 * fixed ~20 ns, plus a subarray for a streamed slice. Measured on Node 20
 * (see bench/RESULTS.md): whole buffers cross over near 32 bytes, streamed
 * slices near 96.
 */
const NATIVE_THRESHOLD_WHOLE = 32;
const NATIVE_THRESHOLD_STREAM = 96;

// Byte classes.
const CLASS = new Uint8Array(256);
(function fillClasses(): void {
  for (let b = 0x80; b <= 0x8f; b++) CLASS[b] = 1;
  for (let b = 0x90; b <= 0x9f; b++) CLASS[b] = 2;
  for (let b = 0xa0; b <= 0xbf; b++) CLASS[b] = 3;
  CLASS[0xc0] = 11;
  CLASS[0xc1] = 11;
  for (let b = 0xc2; b <= 0xdf; b++) CLASS[b] = 4;
  CLASS[0xe0] = 5;
  for (let b = 0xe1; b <= 0xef; b++) CLASS[b] = 6;
  CLASS[0xed] = 7;
  CLASS[0xf0] = 8;
  for (let b = 0xf1; b <= 0xf3; b++) CLASS[b] = 9;
  CLASS[0xf4] = 10;
  for (let b = 0xf5; b <= 0xff; b++) CLASS[b] = 11;
})();
const CLASS_COUNT = 12;

/**
 * DFA states, stored pre-multiplied by CLASS_COUNT in the table so that a
 * step is `state = TRANSITION[state + CLASS[byte]]`.
 */
enum Utf8State {
  ACCEPT = 0,
  REJECT = 1,
  /** Needs one more 80..BF. */
  CONT1 = 2,
  /** Needs two more 80..BF. */
  CONT2 = 3,
  /** Needs three more 80..BF. */
  CONT3 = 4,
  /** After E0: A0..BF (else overlong). */
  AFTER_E0 = 5,
  /** After ED: 80..9F (else surrogate). */
  AFTER_ED = 6,
  /** After F0: 90..BF (else overlong). */
  AFTER_F0 = 7,
  /** After F4: 80..8F (else > U+10FFFF). */
  AFTER_F4 = 8,
}
const STATE_COUNT = 9;

const ACCEPT = Utf8State.ACCEPT * CLASS_COUNT;
const REJECT = Utf8State.REJECT * CLASS_COUNT;

const TRANSITION = new Uint8Array(STATE_COUNT * CLASS_COUNT).fill(REJECT);
(function fillTransitions(): void {
  const set = (from: Utf8State, classes: number[], to: Utf8State): void => {
    for (const c of classes) TRANSITION[from * CLASS_COUNT + c] = to * CLASS_COUNT;
  };
  const CONT = [1, 2, 3];
  set(Utf8State.ACCEPT, [0], Utf8State.ACCEPT);
  set(Utf8State.ACCEPT, [4], Utf8State.CONT1);
  set(Utf8State.ACCEPT, [5], Utf8State.AFTER_E0);
  set(Utf8State.ACCEPT, [6], Utf8State.CONT2);
  set(Utf8State.ACCEPT, [7], Utf8State.AFTER_ED);
  set(Utf8State.ACCEPT, [8], Utf8State.AFTER_F0);
  set(Utf8State.ACCEPT, [9], Utf8State.CONT3);
  set(Utf8State.ACCEPT, [10], Utf8State.AFTER_F4);
  set(Utf8State.CONT1, CONT, Utf8State.ACCEPT);
  set(Utf8State.CONT2, CONT, Utf8State.CONT1);
  set(Utf8State.CONT3, CONT, Utf8State.CONT2);
  set(Utf8State.AFTER_E0, [3], Utf8State.CONT1);
  set(Utf8State.AFTER_ED, [1, 2], Utf8State.CONT1);
  set(Utf8State.AFTER_F0, [2, 3], Utf8State.CONT2);
  set(Utf8State.AFTER_F4, [1], Utf8State.CONT2);
})();

/** Run the DFA over `buf[start..end)` from `state`; returns the final (pre-multiplied) state, REJECT as soon as it is reached. */
function runDfa(buf: Buffer, start: number, end: number, state: number): number {
  for (let i = start; i < end; i++) {
    const b = buf[i];
    // ASCII fast path: in ACCEPT, bytes < 0x80 never change the state.
    if (b < 0x80 && state === ACCEPT) continue;
    state = TRANSITION[state + CLASS[b]];
    if (state === REJECT) return REJECT;
  }
  return state;
}

/**
 * Streaming UTF-8 validator. Feed a message's bytes in any number of
 * `update` calls; `update` returns false on the call that contains the first
 * byte that cannot be part of valid UTF-8, and keeps returning false until
 * {@link Utf8Validator.reset}. At the end of a message, also check
 * {@link Utf8Validator.incomplete}: input that stops mid-sequence is invalid.
 */
export class Utf8Validator {
  private state: number = ACCEPT;

  /** Forget everything: ready for a new message. */
  reset(): void {
    this.state = ACCEPT;
  }

  /** Validate `buf[start..end)` as the continuation of the input so far. Returns false once the input is invalid. */
  update(buf: Buffer, start = 0, end: number = buf.length): boolean {
    let state = this.state;
    if (state === REJECT) return false;
    let i = start;
    // Finish a sequence left open by the previous call (at most 3 bytes).
    while (state !== ACCEPT && i < end) {
      state = TRANSITION[state + CLASS[buf[i++]]];
      if (state === REJECT) {
        this.state = REJECT;
        return false;
      }
    }
    if (nativeIsUtf8 !== undefined && end - i >= NATIVE_THRESHOLD_STREAM) {
      // Validate the bulk natively, up to the last sequence boundary, and
      // the possibly unfinished tail (<= 4 bytes) with the DFA. Back over up
      // to 3 trailing continuation bytes, then over their lead byte.
      let cut = end;
      while (cut > i && end - cut < 3 && (buf[cut - 1] & 0xc0) === 0x80) cut--;
      if (cut > i && buf[cut - 1] >= 0xc0) cut--;
      if (!nativeIsUtf8(buf.subarray(i, cut))) {
        this.state = REJECT;
        return false;
      }
      i = cut;
    }
    state = runDfa(buf, i, end, state);
    this.state = state;
    return state !== REJECT;
  }

  /** True when the input so far ends in the middle of a multi-byte sequence. */
  get incomplete(): boolean {
    return this.state !== ACCEPT && this.state !== REJECT;
  }

  /** True once invalid input has been seen (until {@link Utf8Validator.reset}). */
  get failed(): boolean {
    return this.state === REJECT;
  }
}

/** Validate a DFA run from scratch over the whole buffer. */
function isValidUtf8Js(buf: Buffer): boolean {
  return runDfa(buf, 0, buf.length, ACCEPT) === ACCEPT;
}

/**
 * Whether the whole buffer is valid UTF-8 (a complete message or close
 * reason). Uses `buffer.isUtf8` when Node has it, except for tiny inputs
 * where the JS DFA avoids the native call overhead.
 */
export function isValidUtf8(buf: Buffer): boolean {
  if (nativeIsUtf8 !== undefined && buf.length >= NATIVE_THRESHOLD_WHOLE) return nativeIsUtf8(buf);
  return isValidUtf8Js(buf);
}

/** The pure-JS whole-buffer validator, exported for tests and benchmarks. */
export { isValidUtf8Js };
