/**
 * The verdict engine, with Autobahn's meaning: the behaviour verdict comes
 * from matching the observed events against each expected outcome; the
 * close verdict from who closed, whether it was clean, and the close code.
 * One deliberate difference: Autobahn paints a wrong close code yellow
 * ("WRONG CODE") but does not fail the case; Xyra's probe is strict and
 * turns it into FAILED, because a conformant server must send the code the
 * RFC names (1002 protocol error, 1007 invalid payload).
 *
 * The same rules judge either direction. When the tester plays the server
 * (a client is under test) the only rule that changes is Autobahn's
 * FAILED BY CLIENT: RFC 6455 7.1.1 has the server close TCP first, so the
 * tester dropping TCP is expected there, not a remark (Autobahn checks it
 * only when it is the client: `not self.p.factory.isServer and droppedByMe`).
 */
import { CloseBehavior, Expectation, Observed, Verdict } from './case';
import { CloseRecord } from './raw-peer';

/** The implementation under test: a server (the tester is a client) or a client (the tester is a server). */
export type Peer = 'server' | 'client';

/** Everything the judge needs from a finished run. */
export interface RunRecord {
  observed: Observed[];
  close: CloseRecord;
  /** Opening handshake failure, or null. */
  handshakeError: string | null;
  /** Forbidden things the peer sent. */
  violations: string[];
  /** The case needed permessage-deflate and the peer declined it (or made no usable offer). */
  deflateDeclined: boolean;
}

/** The outcome of judging one case. */
export interface Judgement {
  verdict: Verdict;
  /** One line: why. */
  reason: string;
  /** Autobahn's `behavior`. */
  behavior: Verdict;
  behaviorReason: string;
  /** Autobahn's `behaviorClose`. */
  behaviorClose: CloseBehavior;
  closeReason: string;
}

/** Short text for an event, for reasons and logs. */
export function describeObserved(e: Observed): string {
  if (e.kind === 'timeout') return `timeout(${e.tag})`;
  const d = e.data;
  const preview = d.length <= 24 ? JSON.stringify(d.toString('latin1')) : `${d.length}B`;
  if (e.kind === 'message') return `${e.binary ? 'binary' : 'text'}(${preview})`;
  return `${e.kind}(${preview})`;
}

function sameEvent(a: Observed, b: Observed): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'timeout') return a.tag === (b as { tag: string }).tag;
  if (a.kind === 'message' && a.binary !== (b as { binary: boolean }).binary) return false;
  return a.data.equals((b as { data: Buffer }).data);
}

/** Autobahn's compare(): same events, same order. */
export function sameEvents(a: Observed[], b: Observed[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameEvent(a[i], b[i])) return false;
  return true;
}

/** Autobahn matches ping events too; the tester ignores unsolicited server pings when judging. */
function judged(observed: Observed[]): Observed[] {
  return observed.filter((e) => e.kind !== 'ping');
}

function firstDifference(got: Observed[], want: Observed[]): string {
  const n = Math.max(got.length, want.length);
  for (let i = 0; i < n; i++) {
    const g = got[i];
    const w = want[i];
    if (!g) return `missing ${describeObserved(w)} (event ${i + 1})`;
    if (!w) return `unexpected ${describeObserved(g)} (event ${i + 1})`;
    if (!sameEvent(g, w)) return `got ${describeObserved(g)}, expected ${describeObserved(w)} (event ${i + 1})`;
  }
  return 'no difference';
}

const ORDER = [Verdict.OK, Verdict.NON_STRICT, Verdict.INFORMATIONAL] as const;

/**
 * Judge a run against its expectation; `peer` names the side under test
 * ('server' by default: the tester is the fuzzing client).
 */
export function judge(expect: Expectation, run: RunRecord, peer: Peer = 'server'): Judgement {
  if (run.deflateDeclined) {
    const r = peer === 'server' ? 'server declined permessage-deflate' : 'client made no usable permessage-deflate offer';
    return { verdict: Verdict.UNIMPLEMENTED, reason: r, behavior: Verdict.UNIMPLEMENTED, behaviorReason: r, behaviorClose: CloseBehavior.INFORMATIONAL, closeReason: r };
  }
  if (run.handshakeError !== null) {
    const r = `opening handshake failed: ${run.handshakeError}`;
    return { verdict: Verdict.FAILED, reason: r, behavior: Verdict.FAILED, behaviorReason: r, behaviorClose: CloseBehavior.FAILED, closeReason: 'The WebSocket opening handshake was never completed' };
  }

  // Behaviour: the first expected outcome the events match.
  const got = judged(run.observed);
  let behavior = Verdict.FAILED;
  let behaviorReason = '';
  for (const v of ORDER) {
    const want = expect.outcomes[v];
    if (want && sameEvents(got, want)) {
      behavior = v;
      behaviorReason = v === Verdict.OK ? 'events match the expected outcome' : `events match the ${v} outcome`;
      break;
    }
  }
  if (behavior === Verdict.FAILED) {
    const want = expect.outcomes[Verdict.OK] ?? expect.outcomes[Verdict.NON_STRICT] ?? [];
    behaviorReason = `events differ: ${firstDifference(got, want)}`;
  }

  // Close behaviour, in Autobahn's order of checks.
  const c = run.close;
  const closedByMe = expect.close.closedBy === 'me';
  let behaviorClose: CloseBehavior;
  let closeReason: string;
  if (closedByMe !== c.closedByMe) {
    behaviorClose = CloseBehavior.FAILED;
    closeReason = closedByMe
      ? `the ${peer} closed/failed the connection where the tester should have`
      : c.failedByMe
        ? `the ${peer} never failed the connection; the tester had to`
        : `the tester closed the connection where the ${peer} should have`;
  } else if (expect.close.clean && !c.wasClean) {
    behaviorClose = CloseBehavior.UNCLEAN;
    closeReason = 'the closing handshake did not complete before TCP went away';
  } else if (c.remoteCloseCode !== null && !expect.close.codes.includes(c.remoteCloseCode)) {
    behaviorClose = CloseBehavior.WRONG_CODE;
    closeReason = `close code ${c.remoteCloseCode}, expected ${expect.close.codes.join(' or ')} (or none)`;
  } else if (c.droppedByMe && peer === 'server') {
    behaviorClose = CloseBehavior.FAILED_BY_CLIENT;
    closeReason = 'the tester had to drop TCP (the server should close it)';
  } else {
    behaviorClose = CloseBehavior.OK;
    closeReason = `closed properly${c.remoteCloseCode !== null ? ` with ${c.remoteCloseCode}` : ''}`;
  }
  if (expect.close.wrongEndpointFatal && closedByMe !== c.closedByMe) {
    behavior = Verdict.FAILED;
    behaviorReason = `${behaviorReason}; the ${peer} did not detect the invalid payload`;
  }

  if (expect.informational) {
    const what = behavior === Verdict.OK ? 'first outcome' : behavior === Verdict.NON_STRICT ? 'second outcome' : `events: ${got.map(describeObserved).join(', ') || 'none'}`;
    const code = c.remoteCloseCode !== null ? `close ${c.remoteCloseCode}` : 'no close code';
    return { verdict: Verdict.INFORMATIONAL, reason: `behaviour undefined by the spec; ${what}, ${code}`, behavior: Verdict.INFORMATIONAL, behaviorReason, behaviorClose: CloseBehavior.INFORMATIONAL, closeReason };
  }

  let verdict: Verdict;
  let reason: string;
  if (run.violations.length > 0) {
    verdict = Verdict.FAILED;
    reason = `${peer} broke the protocol: ${run.violations[0]}`;
  } else if (behavior === Verdict.FAILED) {
    verdict = Verdict.FAILED;
    reason = behaviorReason;
  } else if (behaviorClose === CloseBehavior.FAILED || behaviorClose === CloseBehavior.UNCLEAN || behaviorClose === CloseBehavior.WRONG_CODE) {
    verdict = Verdict.FAILED;
    reason = closeReason;
  } else if (behavior === Verdict.NON_STRICT) {
    verdict = Verdict.NON_STRICT;
    reason = `${behaviorReason}${behaviorClose === CloseBehavior.FAILED_BY_CLIENT ? `; ${closeReason}` : ''}`;
  } else {
    verdict = behavior;
    reason = behaviorClose === CloseBehavior.FAILED_BY_CLIENT ? `${behaviorReason}; ${closeReason}` : `${behaviorReason}, ${closeReason}`;
  }
  return { verdict, reason, behavior, behaviorReason, behaviorClose, closeReason };
}
