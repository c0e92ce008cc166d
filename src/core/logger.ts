/** The logger flowstore accepts: pino's shape (an object, then a message), so a pino logger fits as is. */
export interface Logger {
  debug(object: Record<string, unknown>, message?: string): void;
  info(object: Record<string, unknown>, message?: string): void;
  warn(object: Record<string, unknown>, message?: string): void;
  error(object: Record<string, unknown>, message?: string): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/**
 * One entry as JSON, whatever it holds: a BigInt as its decimal string, a cycle as "[Circular]". Statement values are the caller's, so anything may turn up.
 */
function toJsonLine(entry: Record<string, unknown>): string {
  const ancestors: object[] = [];
  return JSON.stringify(entry, function (this: unknown, _key, value: unknown) {
    if (typeof value === "bigint") return value.toString();
    if (typeof value !== "object" || value === null) return value;
    // `this` is the object holding the value: drop the ancestors that are not on its path any more.
    while (ancestors.length > 0 && ancestors.at(-1) !== this) ancestors.pop();
    if (ancestors.includes(value)) return "[Circular]";
    ancestors.push(value);
    return value;
  });
}

/** Writes one JSON line per entry to stderr, at `level` and above. The default keeps warnings and errors. */
export function consoleLogger(level: LogLevel = "warn"): Logger {
  const write = (at: Exclude<LogLevel, "silent">) => (object: Record<string, unknown>, message?: string) => {
    if (ORDER[at] < ORDER[level]) return;
    process.stderr.write(
      `${toJsonLine({ level: at, time: new Date().toISOString(), msg: message, ...object })}\n`,
    );
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}

export const silentLogger: Logger = consoleLogger("silent");

/**
 * What a background loop (a worker, a timer dispatcher) reports its errors to: the caller's `onError`,
 * else a warning. An onError that throws is logged, not thrown on: it must neither end the loop nor
 * become an unhandled rejection, which would end the process.
 */
export function errorReporter(
  logger: Logger,
  source: string,
  onError?: (error: unknown) => void,
): (error: unknown) => void {
  const warn = (error: unknown) => logger.warn({ error: String(error) }, source);
  if (!onError) return warn;
  return (error) => {
    try {
      onError(error);
    } catch (thrown) {
      warn(error);
      logger.warn({ error: String(thrown) }, `${source}: onError threw`);
    }
  };
}
