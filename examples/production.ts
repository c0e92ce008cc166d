/**
 * Opening a store in production: through a pooler, with read replicas, and read-only on a standby.
 * The addresses come from the environment; each defaults to DATABASE_URL, so that the example also
 * runs against one server (CI runs it so):
 *
 *   DATABASE_URL=postgres://localhost/app npx tsx examples/production.ts
 */
import { openStore } from "flowstore";

const { DATABASE_URL: primary = "postgres://app@db:5432/app" } = process.env;
const env = {
  POOLER_URL: primary, // e.g. postgres://app@pgbouncer:6432/app
  DIRECT_URL: primary, // e.g. postgres://app@db:5432/app
  STANDBY_1_URL: primary, // e.g. postgres://app@standby-1:5432/app
  STANDBY_2_URL: primary,
  ...process.env,
};

{
  // #region pooler
  const store = await openStore({
    connection: env.POOLER_URL, // statements through the pooler
    listenConnection: env.DIRECT_URL, // LISTEN only, straight to PostgreSQL
  });
  // #endregion
  console.log("through the pooler:", store.describe());
  await store.close();
}

{
  // #region replicas
  const store = await openStore({
    connection: env.DIRECT_URL,
    readConnection: [env.STANDBY_1_URL, env.STANDBY_2_URL], // lists and counts, read in turn
  });
  const looking = await openStore({ connection: env.STANDBY_1_URL, readOnly: true }); // writes nothing
  // #endregion
  console.log("read-only store lists", (await looking.executions.list()).items.length, "executions");
  await Promise.all([store.close(), looking.close()]);
}
