/**
 * Section 9: large messages, many frames, many chops, many round trips.
 * Autobahn's sizes go up to 16 MiB; the quick mode (default, for CI)
 * divides message sizes by 16 and round-trip counts by 10, keeping the ids.
 */
import { CaseRow, CatalogueOptions, Step, Verdict } from '../case';
import { closeAfter, fill, msg, NORMAL_CLOSE } from './helpers';

const TEXT = 'BAsd7&jh23';
const BIN = Buffer.from([0xfe]);
const KB = 1024;
const MB = 1024 * 1024;
const human = (n: number): string => (n >= MB ? `${n / MB} MiB` : n >= KB ? `${n / KB} KiB` : `${n} B`);

/** Section 9 rows for the given mode. */
export function section9(opts: CatalogueOptions): CaseRow[] {
  const scale = opts.full ? 1 : 1 / 16;
  const rounds = opts.full ? 1000 : 100;
  const waitMs = opts.full ? 100000 : 20000;
  const rows: CaseRow[] = [];
  const payload = (binary: boolean, n: number): Buffer => fill(binary ? BIN : TEXT, n);
  const big = (id: string, description: string, binary: boolean, n: number, step: Step): CaseRow => ({
    id,
    description,
    rfc: 'RFC 6455 5.2, 5.4 (implementation limits)',
    steps: [step, closeAfter(waitMs)],
    expect: { outcomes: { [Verdict.OK]: [msg(payload(binary, n), binary)] }, close: NORMAL_CLOSE },
    timeoutMs: waitMs + 5000,
    reportTime: true,
  });

  // 9.1 / 9.2: one big frame.
  [64 * KB, 256 * KB, MB, 4 * MB, 8 * MB, 16 * MB].forEach((full, i) => {
    const n = full * scale;
    for (const [sub, binary] of [[1, false], [2, true]] as const) {
      rows.push(big(`9.${sub}.${i + 1}`, `Send ${binary ? 'binary' : 'text'} message with payload of length ${human(n)}`, binary, n, { op: 'message', payload: payload(binary, n), binary }));
    }
  });
  // 9.3 / 9.4: a 4 MiB message in fragments of 64 B .. 4 MiB.
  const fragMsg = 4 * MB * scale;
  [64, 256, KB, 4 * KB, 16 * KB, 64 * KB, 256 * KB, MB, 4 * MB].forEach((frag, i) => {
    for (const [sub, binary] of [[3, false], [4, true]] as const) {
      rows.push(big(`9.${sub}.${i + 1}`, `Send fragmented ${binary ? 'binary' : 'text'} message of ${human(fragMsg)} in fragments of ${human(frag)}`, binary, fragMsg, { op: 'message', payload: payload(binary, fragMsg), binary, fragmentSize: frag }));
    }
  });
  // 9.5 / 9.6: a 1 MiB message written in chops of 64 .. 2048 bytes.
  const chopMsg = MB * scale;
  [64, 128, 256, 512, 1024, 2048].forEach((chop, i) => {
    for (const [sub, binary] of [[5, false], [6, true]] as const) {
      rows.push(big(`9.${sub}.${i + 1}`, `Send ${binary ? 'binary' : 'text'} message of ${human(chopMsg)} in TCP chops of ${chop} B`, binary, chopMsg, { op: 'message', payload: payload(binary, chopMsg), binary, chop }));
    }
  });
  // 9.7 / 9.8: many small round trips.
  [0, 16, 64, 256, 1024, 4096].forEach((size, i) => {
    for (const [sub, binary] of [[7, false], [8, true]] as const) {
      const p = payload(binary, size);
      rows.push({
        id: `9.${sub}.${i + 1}`,
        description: `Send ${rounds} ${binary ? 'binary' : 'text'} messages of ${size} B, each after the previous echo`,
        rfc: 'RFC 6455 (round-trip latency)',
        steps: [{ op: 'roundTrips', count: rounds, payload: p, binary }, closeAfter(waitMs)],
        expect: { outcomes: { [Verdict.OK]: Array.from({ length: rounds }, () => msg(p, binary)) }, close: NORMAL_CLOSE },
        timeoutMs: waitMs + 5000,
        reportTime: true,
      });
    }
  });
  return rows; // the catalogue index sorts by id
}
