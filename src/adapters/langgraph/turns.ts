/**
 * The savers' CPU work, spread over turns of the event loop. A serializer's dumps and loads of a large
 * value run at once (JSON.stringify, then UTF-8 encoding: about 0.1 s for 20 MB), and their promises
 * resolve in the same run of microtasks: sixteen graphs whose nodes finish together had sixteen of
 * them run back to back, and the event loop stood still for seconds (no socket read, no timer), long
 * enough for connection checkouts to time out. Here each piece of work runs at once while the turn has
 * spent less than TURN_BUDGET_MS on them; after that, the next waits for a later turn, in the order
 * they came. One value alone still takes its whole time: it cannot be cut.
 */

const TURN_BUDGET_MS = 10;

interface Work {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

const waiting: Work[] = [];
let spentMs = 0;
let turnAhead = false;

/**
 * Runs `work` (synchronous, or the synchronous start of something asynchronous) in this turn if the
 * turn has time left and nothing waits, else in a later one; resolves with what it returned.
 */
export function inTurn<T>(work: () => T | Promise<T>): Promise<T> {
  if (waiting.length === 0 && spentMs < TURN_BUDGET_MS) {
    try {
      return Promise.resolve(timed(work));
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return new Promise<T>((resolve, reject) => {
    waiting.push({ run: work, resolve: resolve as (value: unknown) => void, reject });
    nextTurn();
  });
}

function timed<T>(work: () => T): T {
  const started = performance.now();
  try {
    return work();
  } finally {
    spentMs += performance.now() - started;
    nextTurn();
  }
}

/** The budget is counted per turn: a check-phase callback starts the next count and runs what waits. */
function nextTurn(): void {
  if (turnAhead) return;
  turnAhead = true;
  setImmediate(() => {
    turnAhead = false;
    spentMs = 0;
    while (waiting.length > 0 && spentMs < TURN_BUDGET_MS) {
      const work = waiting.shift() as Work;
      try {
        work.resolve(timed(work.run));
      } catch (error) {
        work.reject(error);
      }
    }
  });
}
