/**
 * Claims of one run asked for in the same turn of the event loop, with the same change, share one
 * statement. Eight resumes of one suspended run in one process each ask updateWorkflowState to move it
 * from "suspended" to "running"; sent one by one, the seven that lose queue on the run's row lock, one
 * after the other, and the winner's next write of the run waits behind all of them. Shared, the first
 * caller gets the statement's answer and the others lose at once, as they would have: each is answered
 * as if run right after the statement, which moved the run out of the status they expect (or found it
 * out of it). The statement is sent on the next tick, after every claim that joins it began; a claim
 * never joins a statement already sent, and only a change that leaves the expected status is shared
 * (two callers who may both succeed each have their own).
 */
export class SharedClaims<T> {
  private readonly pending = new Map<string, Promise<T | undefined>>();

  /**
   * The claim `write` under `key` (the run and the change, whole): its answer for the first caller,
   * undefined for those who joined it (an error for all when it fails).
   */
  claim(key: string, write: () => Promise<T | undefined>): Promise<T | undefined> {
    const joined = this.pending.get(key);
    if (joined) return joined.then(() => undefined);
    const result = new Promise<void>((resolve) => process.nextTick(resolve)).then(() => {
      this.pending.delete(key);
      return write();
    });
    this.pending.set(key, result);
    return result;
  }
}
