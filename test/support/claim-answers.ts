/** Holding back what the database answers a worker's claims, as a slow network would. */
import type { Store } from "../../src/index.js";

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
    if (held && text.includes("claimed as (")) await answered;
    return result;
  }) as typeof driver.query;
  return answer;
}
