/**
 * What a background loop (a worker, a timer dispatcher) reports while the database cannot be reached.
 * Such a loop keeps trying at every poll, so it would report the same ConnectionError several times a
 * second for as long as the outage lasts, burying whatever else the log holds. The first is reported at
 * once; those that follow are counted, and reported (with that count) 1 s later, then 2 s, 4 s and so
 * on, at most a minute apart. The first success after that ends the outage, and says so.
 */

import { ConnectionError } from "./errors.js";
import { errorReporter, type Logger } from "./logger.js";

const FIRST_REPEAT_MS = 1_000;
const MAX_REPEAT_MS = 60_000;

export class OutageReporter {
  private down = false;
  private repeatMs = FIRST_REPEAT_MS;
  private nextAt = 0;
  /** Connection errors left unreported since the last one that was. */
  private unreported = 0;
  /** Connection errors since the outage began. */
  private total = 0;
  /** Reports one error; `errors`: how many connection errors it stands for, when more than itself. */
  private readonly send: (error: unknown, errors?: number) => void;

  /** Errors go to `onError` when given, else to the logger as warnings (as errorReporter does). */
  constructor(
    private readonly logger: Logger,
    private readonly source: string,
    onError?: (error: unknown) => void,
  ) {
    const report = errorReporter(logger, source, onError);
    this.send = onError
      ? report
      : (error, errors) => logger.warn({ error: String(error), ...(errors ? { errors } : {}) }, source);
  }

  /** Reports `error`: at once, unless it is one more connection error of an outage already reported. */
  readonly error = (error: unknown): void => {
    if (!(error instanceof ConnectionError)) {
      this.send(error);
      return;
    }
    this.total++;
    const now = Date.now();
    if (this.down && now < this.nextAt) {
      this.unreported++;
      return;
    }
    const errors = this.unreported + 1;
    this.repeatMs = this.down ? Math.min(this.repeatMs * 2, MAX_REPEAT_MS) : FIRST_REPEAT_MS;
    this.down = true;
    this.unreported = 0;
    this.nextAt = now + this.repeatMs;
    this.send(error, errors > 1 ? errors : undefined);
  };

  /** A statement went through: the outage, if there was one, is over. */
  readonly ok = (): void => {
    if (!this.down) return;
    this.logger.info({ errors: this.total }, `${this.source}: the database is reachable again`);
    this.down = false;
    this.total = 0;
    this.unreported = 0;
  };
}
