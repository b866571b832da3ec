/** The sans-I/O RFC 6455 frame codec: parsing, encoding, masking, UTF-8 and close codes. */

export { OpCode, isControlOpCode } from './opcode';
export { ProtocolError, UsageError } from './protocol-error';
export { mask, unmask, unmaskRange } from './mask';
export { Utf8Validator, isValidUtf8, isValidUtf8Js } from './utf8';
export {
  CloseCode,
  MAX_CLOSE_REASON_BYTES,
  isValidCloseCode,
  parseClosePayload,
  encodeClosePayload,
} from './close-codes';
export type { ClosePayload } from './close-codes';
export { FrameParser, ParserState, DEFAULT_MAX_PAYLOAD_LENGTH, parseFrames } from './parser';
export type { FrameHandler, ParserOptions, Frame } from './parser';
export {
  MERGE_THRESHOLD,
  frameHeaderSize,
  writeFrameHeader,
  encodeFrame,
  encodeFrameInto,
  encodeCloseFrame,
  encodePing,
  encodePong,
  nextMaskKey,
  setMaskKeyGenerator,
} from './encoder';
