/**
 * A repository whose calls from outside run in spans: a Proxy over it, made only for a store with
 * telemetry (a store without keeps its repositories as they are). The repository's own calls to its
 * methods go to the repository itself, so one call of the caller's makes one span.
 */

import type { Telemetry } from "../core/telemetry.js";

/**
 * Methods that make their own spans (an enqueue's "send", a worker's "process" per job), start
 * something that lives on (a worker, a dispatcher) or only give a view of the repository (a typed queue).
 */
const UNTRACED = new Set(["constructor", "enqueue", "work", "startDispatcher", "queue"]);

export function traced<T extends object>(repository: T, area: string, telemetry: Telemetry): T {
  const wrappers = new Map<string, (...args: unknown[]) => unknown>();
  return new Proxy(repository, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function" || typeof property !== "string") return value;
      let wrapper = wrappers.get(property);
      if (!wrapper) {
        const method = value as (...args: unknown[]) => unknown;
        // An untraced method still runs on the repository itself, not on this proxy: a worker started
        // by `work` calls the queue's methods many times a second, and those are its own, not the caller's.
        wrapper = UNTRACED.has(property)
          ? method.bind(target)
          : (...args: unknown[]) =>
              telemetry.operation(area, property, args, () => method.apply(target, args));
        wrappers.set(property, wrapper);
      }
      return wrapper;
    },
  });
}
