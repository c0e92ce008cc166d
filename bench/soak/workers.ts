/**
 * The soak's worker processes as the orchestrator sees them: starting one (bench/soak/worker.ts under
 * tsx's loader), reading what it writes on stdout ("ready", "rss", "lost", "error" lines) and stderr,
 * and starting a replacement for one that exits on its own. The run (run.ts) keeps the fleet, kills
 * its workers and stops them; this file holds what a worker's life looks like from outside.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { SoakOptions } from "./options.js";
import { SOAK_QUEUE, type WorkerConfig } from "./worker-config.js";

export interface WorkerProcess {
  serial: number;
  slot: number;
  pid: number;
  child: ChildProcess;
  startedAt: number;
  /** When it said "ready": its store open and its worker claiming. */
  readyAt?: number;
  killedAt?: number;
  endedAt?: number;
  fate: "running" | "killed" | "stopped" | "died";
  exitCode: number | null;
  exitSignal: string | null;
  rss: number[];
  errors: number;
  ready: Promise<void>;
  exited: Promise<void>;
}

/** The run's worker processes and what they reported, shared between workerFleet and the run. */
export interface WorkerFleet {
  /** Every process started, in order. */
  processes: WorkerProcess[];
  /** The process in each slot now: a replacement takes the slot of the one it replaces. */
  slots: WorkerProcess[];
  errorKinds: Map<string, { count: number; first: string }>;
  leaseLost: { job: string; worker: number; at: number }[];
  /** Set when the run ends: a worker that exits after that is not replaced. */
  ending: boolean;
  /** Workers that exited on their own. */
  deaths: number;
  maxDeaths: number;
  /** Starts a worker process in `slot`. */
  start(slot: number): WorkerProcess;
}

const WORKER_SCRIPT = fileURLToPath(new URL("./worker.ts", import.meta.url));
const TSX_LOADER = new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url).href;

export function workerFleet(
  url: string,
  o: Required<Omit<SoakOptions, "signal" | "log">>,
  say: (line: string) => void,
): WorkerFleet {
  const processes: WorkerProcess[] = [];
  const slots: WorkerProcess[] = [];
  const errorKinds = new Map<string, { count: number; first: string }>();
  const leaseLost: { job: string; worker: number; at: number }[] = [];
  let serials = 0;

  const startWorker = (slot: number): WorkerProcess => {
    const config: WorkerConfig = {
      url,
      schema: o.schema,
      queue: SOAK_QUEUE,
      serial: serials++,
      concurrency: o.concurrency,
      leaseMs: o.leaseMs,
      rssEveryMs: o.rssEveryMs,
    };
    const child = spawn(process.execPath, ["--import", TSX_LOADER, WORKER_SCRIPT, JSON.stringify(config)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let markReady!: () => void;
    let markExited!: () => void;
    const w: WorkerProcess = {
      serial: config.serial,
      slot,
      pid: child.pid ?? -1,
      child,
      startedAt: Date.now(),
      fate: "running",
      exitCode: null,
      exitSignal: null,
      rss: [],
      errors: 0,
      ready: new Promise<void>((resolve) => {
        markReady = resolve;
      }),
      exited: new Promise<void>((resolve) => {
        markExited = resolve;
      }),
    };
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (line === "ready") {
        w.readyAt ??= Date.now();
        markReady();
      } else if (line.startsWith("rss ")) w.rss.push(Number(line.split(" ")[1]));
      else if (line.startsWith("lost ")) {
        for (const job of line.slice(5).split(" "))
          if (job) leaseLost.push({ job, worker: w.serial, at: Date.now() });
      } else if (line.startsWith("error ")) {
        w.errors++;
        const [, kind = "?", ...words] = line.split(" ");
        const seen = errorKinds.get(kind);
        if (seen) seen.count++;
        else {
          errorKinds.set(kind, { count: 1, first: words.join(" ") });
          say(`worker #${w.serial} (pid ${w.pid}): first ${kind} error: ${words.join(" ")}`);
        }
      }
    });
    let stderrLines = 0;
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
      if (++stderrLines <= 20) say(`worker #${w.serial} (pid ${w.pid}) stderr: ${line}`);
    });
    child.once("exit", (code, exitSignal) => {
      w.endedAt = Date.now();
      w.exitCode = code;
      w.exitSignal = exitSignal;
      if (w.fate === "running") {
        w.fate = "died";
        say(`worker #${w.serial} (pid ${w.pid}) exited on its own (code ${code}, signal ${exitSignal})`);
        if (!fleet.ending && slots[slot] === w && ++fleet.deaths <= fleet.maxDeaths) startWorker(slot);
      }
      markReady(); // whoever waits for "ready" finds out from the fate
      markExited();
    });
    processes.push(w);
    slots[slot] = w;
    return w;
  };

  const fleet: WorkerFleet = {
    processes,
    slots,
    errorKinds,
    leaseLost,
    ending: false,
    // Workers that exit on their own are replaced, up to a point: a worker that cannot start (a broken
    // build, a refused connection) would otherwise be restarted in a loop until the deadline.
    deaths: 0,
    maxDeaths: 3 * o.workers,
    start: startWorker,
  };
  return fleet;
}
