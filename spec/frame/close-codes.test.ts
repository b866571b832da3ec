import { CloseCode, MAX_CLOSE_REASON_BYTES, encodeClosePayload, isValidCloseCode, parseClosePayload } from '../../frame/close-codes';
import { ProtocolError, UsageError } from '../../errors';
import { hex } from './helpers';

/** The rule, written independently of the implementation (RFC 6455 7.4.1/7.4.2, IANA registry). */
function expectedValid(code: number): boolean {
  if (code < 1000) return false;
  if (code <= 1003) return true;
  if (code === 1004 || code === 1005 || code === 1006) return false;
  if (code <= 1014) return true;
  if (code < 3000) return false; // 1015 (TLS, local only) and 1016-2999
  return code <= 4999;
}

describe('isValidCloseCode', () => {
  test('every code 0..5000 (and a few beyond) follows the rule', () => {
    const mismatches: number[] = [];
    for (let code = 0; code <= 5000; code++) if (isValidCloseCode(code) !== expectedValid(code)) mismatches.push(code);
    for (const code of [5001, 65535, 65536, -1]) if (isValidCloseCode(code)) mismatches.push(code);
    expect(mismatches).toEqual([]);
  });

  test.each([
    [999, false], [1000, true], [1003, true], [1004, false], [1005, false], [1006, false], [1007, true],
    [1014, true], [1015, false], [1016, false], [2999, false], [3000, true], [4999, true], [5000, false],
  ])('%i -> %s', (code, valid) => {
    expect(isValidCloseCode(code)).toBe(valid);
  });

  test('CloseCode values', () => {
    expect([CloseCode.NORMAL, CloseCode.GOING_AWAY, CloseCode.PROTOCOL_ERROR, CloseCode.UNSUPPORTED_DATA]).toEqual([1000, 1001, 1002, 1003]);
    expect([CloseCode.NO_STATUS, CloseCode.ABNORMAL, CloseCode.INVALID_PAYLOAD, CloseCode.POLICY_VIOLATION]).toEqual([1005, 1006, 1007, 1008]);
    expect([CloseCode.MESSAGE_TOO_BIG, CloseCode.MANDATORY_EXTENSION, CloseCode.INTERNAL_ERROR]).toEqual([1009, 1010, 1011]);
    expect([CloseCode.SERVICE_RESTART, CloseCode.TRY_AGAIN_LATER, CloseCode.BAD_GATEWAY, CloseCode.TLS_HANDSHAKE]).toEqual([1012, 1013, 1014, 1015]);
  });
});

describe('parseClosePayload', () => {
  test.each([
    ['empty', '', 1005, ''],
    ['code only', '03e8', 1000, ''],
    ['code and ascii reason', '03e9 627965', 1001, 'bye'],
    ['private code 4999 with emoji', '1387 f09f9880', 4999, '😀'],
    ['3000', '0bb8', 3000, ''],
  ])('%s', (_name, bytes, code, reason) => {
    expect(parseClosePayload(hex(bytes))).toEqual({ code, reason });
  });

  test.each([
    ['1-byte payload', '03', 1002],
    ['code 0', '0000', 1002],
    ['code 999', '03e7', 1002],
    ['code 1004', '03ec', 1002],
    ['code 1005 on the wire', '03ed', 1002],
    ['code 1006 on the wire', '03ee', 1002],
    ['code 1015 on the wire', '03f7', 1002],
    ['code 1016', '03f8', 1002],
    ['code 2999', '0bb7', 1002],
    ['code 5000', '1388', 1002],
    ['code 65535', 'ffff', 1002],
    ['invalid code wins over invalid reason', '03ec ff', 1002],
    ['reason with FF', '03e8 ff', 1007],
    ['reason with truncated sequence', '03e8 61 e2 82', 1007],
    ['reason with surrogate', '03e8 eda080', 1007],
    ['reason with overlong, long enough for the native path', '03e8' + '61'.repeat(60) + 'c0af', 1007],
  ])('%s -> ProtocolError %i', (_name, bytes, code) => {
    let error: unknown;
    try {
      parseClosePayload(hex(bytes));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe(code);
  });
});

describe('encodeClosePayload', () => {
  test.each([
    ['nothing', undefined, undefined, ''],
    ['nothing, empty reason', undefined, '', ''],
    ['1000', 1000, undefined, '03e8'],
    ['1000 empty reason', 1000, '', '03e8'],
    ['1001 bye', 1001, 'bye', '03e9627965'],
    ['4000 é', 4000, 'é', '0fa0c3a9'],
  ])('%s', (_name, code, reason, expected) => {
    const body = encodeClosePayload(code, reason);
    expect(body.toString('hex')).toBe(expected);
    // Round trip (empty -> 1005).
    expect(parseClosePayload(body)).toEqual({ code: code ?? 1005, reason: reason ?? '' });
  });

  test('reason of exactly 123 bytes is fine; 124 is a UsageError (also with multi-byte chars)', () => {
    expect(MAX_CLOSE_REASON_BYTES).toBe(123);
    expect(encodeClosePayload(1000, 'a'.repeat(123))).toHaveLength(125);
    expect(() => encodeClosePayload(1000, 'a'.repeat(124))).toThrow(UsageError);
    // 41 x 3-byte '€' = 123 bytes; 42 = 126 bytes though only 42 chars.
    expect(encodeClosePayload(1000, '€'.repeat(41))).toHaveLength(125);
    expect(() => encodeClosePayload(1000, '€'.repeat(42))).toThrow(UsageError);
  });

  test.each([[1004], [1005], [1006], [1015], [999], [2999], [5000], [0], [1000.5], [NaN]])('code %p is a UsageError', (code) => {
    expect(() => encodeClosePayload(code, '')).toThrow(UsageError);
  });

  test('a reason without a code is a UsageError', () => {
    expect(() => encodeClosePayload(undefined, 'why')).toThrow(UsageError);
  });

  test('every valid code encodes and parses back', () => {
    for (let code = 0; code <= 5000; code++) {
      if (!isValidCloseCode(code)) continue;
      expect(parseClosePayload(encodeClosePayload(code, 'r')).code).toBe(code);
    }
  });
});
