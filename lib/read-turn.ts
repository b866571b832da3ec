/**
 * Fair reading. libuv reads a ready socket until it is empty (up to 32 reads
 * of 64 KiB per wake-up), so a few busy connections can take a whole turn of
 * the event loop while the others wait: in the 64 KiB echo bench some
 * connections were served 17 times less than others and p99 was 7x Bun's.
 * A socket that has read more than READ_TURN_BUDGET bytes in one turn pauses
 * until the next (setImmediate: after the poll phase has visited every ready
 * socket), as uWebSockets reads each socket once per loop iteration. A socket
 * that is the only one reading (in this turn and the last) never pauses: it
 * has nobody to make room for. Small messages rarely reach the budget, and a
 * read of less than ARM_AT bytes does not even start the turn timer.
 */

/** Bytes one socket may read in one turn before it waits for the next. */
export const READ_TURN_BUDGET = 64 * 1024;
/** Reads at least this large start the turn timer (smaller ones only count). */
const ARM_AT = 16 * 1024;
/** readInTurn of a reader that paused in its turn and waits on the list. */
const PAUSED = -1;

/** A reader that can pause for the rest of a turn; the counters are its own. */
export interface TurnReader {
  /** The turn its last read was counted in. */
  readTurn: number;
  /** Bytes read in that turn; negative once it paused in it. */
  readInTurn: number;
  /** The turn it paused in is over: read again. */
  resumeTurn(): void;
}

let turn = 1;
let armed = false;
let waiting: TurnReader[] = [];
/** Sockets that read in this turn and in the last one: a socket alone has nobody to wait for. */
let readersNow = 0;
let readersBefore = 0;

function nextTurn(): void {
  turn++;
  armed = false;
  readersBefore = readersNow;
  readersNow = 0;
  const list = waiting;
  waiting = [];
  for (let i = 0; i < list.length; i++) {
    try {
      list[i].resumeTurn();
    } catch {
      // A socket that cannot resume is being torn down; the others must still be resumed.
    }
  }
}

function arm(): void {
  armed = true;
  setImmediate(nextTurn);
}

/**
 * Count `n` bytes read by `r`. True when `r` is over its budget for this
 * turn: the caller pauses reading, and `resumeTurn()` is called next turn.
 */
export function overReadBudget(r: TurnReader, n: number): boolean {
  if (r.readTurn !== turn) {
    r.readTurn = turn;
    r.readInTurn = 0;
    readersNow++;
  }
  // Paused in this turn already (a chunk the paused stream still had): it is on the list.
  if (r.readInTurn < 0) return true;
  const total = (r.readInTurn += n);
  // Over its share only while other sockets read too (pausing a lone busy socket would only slow it).
  if (total <= READ_TURN_BUDGET || (readersNow < 2 && readersBefore < 2)) {
    if (n >= ARM_AT && !armed) arm();
    return false;
  }
  r.readInTurn = PAUSED;
  waiting.push(r);
  if (!armed) arm();
  return true;
}
