/** For the tests of the embedded store that start other processes on it. */

/** This process's environment with no server configured, so that openStore chooses the embedded store. */
export function embeddedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["DATABASE_URL", "PGHOST", "POSTGRES_HOST", "FLOWSTORE_DATA_DIR"]) delete env[name];
  return env;
}
