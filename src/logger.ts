/** The logger flowstore accepts: pino's shape (an object, then a message), so a pino logger fits as is. */
export interface Logger {
  debug(object: Record<string, unknown>, message?: string): void;
  info(object: Record<string, unknown>, message?: string): void;
  warn(object: Record<string, unknown>, message?: string): void;
  error(object: Record<string, unknown>, message?: string): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/** Writes one JSON line per entry to stderr, at `level` and above. The default keeps warnings and errors. */
export function consoleLogger(level: LogLevel = "warn"): Logger {
  const write = (at: Exclude<LogLevel, "silent">) => (object: Record<string, unknown>, message?: string) => {
    if (ORDER[at] < ORDER[level]) return;
    process.stderr.write(
      `${JSON.stringify({ level: at, time: new Date().toISOString(), msg: message, ...object })}\n`,
    );
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}

export const silentLogger: Logger = consoleLogger("silent");
