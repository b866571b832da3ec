/**
 * Frame opcodes (RFC 6455 5.2, 11.8). A plain numeric enum: the values are
 * what travels on the wire, and the parser switches on them directly.
 */
export enum OpCode {
  CONTINUATION = 0x0,
  TEXT = 0x1,
  BINARY = 0x2,
  CLOSE = 0x8,
  PING = 0x9,
  PONG = 0xa,
}

/** RFC 6455 5.5: control frames have the high bit of the opcode set. */
export function isControlOpCode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}
