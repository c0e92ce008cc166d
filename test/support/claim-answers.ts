/** Holding back what the database answers a worker's claims, as a slow network would. */
import type { Store, StoreOptions } from "../../src/index.js";

/**
 * True for the text of a claim: each of the claim's forms (by hand, a worker's, a grouped queue's)
 * leases its jobs with the same UPDATE, which alone marks a job that went dead this way.
 */
export function isClaim(text: string | undefined): boolean {
  return text?.includes("lease expired on the last attempt") === true;
}

/** Store options that push the limit each claim asks for onto `limits`, read from the statement log. */
export function loggingClaimLimits(limits: number[]): Omit<StoreOptions, "connection"> {
  const ignore = () => {};
  const keep = (entry: Record<string, unknown>) => {
    const { sql, values } = entry as { sql?: string; values?: unknown[] };
    if (isClaim(sql) && values) limits.push(Number(values[1]));
  };
  return {
    logStatements: { values: true },
    logger: { debug: keep, info: ignore, warn: ignore, error: ignore },
  };
}

/**
 * From now on, each claim of the store runs in the database, and whoever sent it sees its answer only
 * once the returned function is called: every answer, or those holding a job `only` names.
 */
export function holdClaimAnswers(store: Store, only?: string): () => void {
  const { driver } = store;
  const query = driver.query.bind(driver);
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => {
    answer = resolve;
  });
  driver.query = (async (text: string, values?: readonly unknown[], options?: object) => {
    const result = await query(text, values, options);
    const held = only === undefined || result.rows.some((row) => (row as { id?: string }).id === only);
    if (held && isClaim(text)) await answered;
    return result;
  }) as typeof driver.query;
  return answer;
}
