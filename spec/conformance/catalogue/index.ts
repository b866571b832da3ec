/**
 * The whole catalogue, in Autobahn id order, plus id-pattern selection with
 * Autobahn's syntax ('1.*', '6.4.*', '9.1.1', comma-separated).
 */
import { CaseRow, CatalogueOptions } from '../case';
import { section1 } from './section1-framing';
import { section2 } from './section2-pings';
import { section3 } from './section3-reserved-bits';
import { section4 } from './section4-opcodes';
import { section5 } from './section5-fragmentation';
import { section6 } from './section6-utf8';
import { section7 } from './section7-close';
import { section9 } from './section9-limits';
import { section10 } from './section10-misc';
import { section11 } from './section11-client-role';
import { section12and13 } from './section12-deflate';

/** Section titles as Autobahn names them. */
export const SECTION_TITLES: Record<string, string> = {
  '1': 'Framing',
  '2': 'Pings/Pongs',
  '3': 'Reserved Bits',
  '4': 'Opcodes',
  '5': 'Fragmentation',
  '6': 'UTF-8 Handling',
  '7': 'Close Handling',
  '9': 'Limits/Performance',
  '10': 'Misc',
  '11': 'Client role: masking, handshake answers',
  '12': 'WebSocket Compression (different payloads)',
  '13': 'WebSocket Compression (different parameters)',
};

/** Numeric comparison of dotted ids ('6.10.1' after '6.9.2'). */
export function compareIds(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? -1) - (y[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/** Every case, sorted by id. */
export function catalogue(opts: CatalogueOptions = { full: false }): CaseRow[] {
  const all = [
    ...section1,
    ...section2,
    ...section3,
    ...section4,
    ...section5,
    ...section6,
    ...section7,
    ...section9(opts),
    ...section10,
    ...section12and13(opts),
  ];
  return all.sort((a, b) => compareIds(a.id, b.id));
}

/**
 * The fuzzing server's catalogue (a client is under test): every case the
 * fuzzing client has, plus section 11, which only makes sense
 * server-to-client (masked frames, broken handshake answers).
 */
export function clientRoleCatalogue(opts: CatalogueOptions = { full: false }): CaseRow[] {
  return [...catalogue(opts), ...section11].sort((a, b) => compareIds(a.id, b.id));
}

/** Compile Autobahn-style patterns ('*' = anything, '.' literal) into a matcher. */
export function idMatcher(patterns: string): (id: string) => boolean {
  const res = patterns
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => new RegExp(`^${p.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`));
  return (id) => res.some((r) => r.test(id));
}

/** Select cases by include / exclude patterns. */
export function selectCases(rows: CaseRow[], include = '*', exclude = ''): CaseRow[] {
  const inc = idMatcher(include);
  const exc = exclude ? idMatcher(exclude) : () => false;
  return rows.filter((r) => inc(r.id) && !exc(r.id));
}
