/**
 * FlowstoreMastraStorage: Mastra's storage (a MastraCompositeStore) whose workflows and memory domains
 * are flowstore's. The other domains are left to another store by composition:
 * `new MastraCompositeStore({ id, default: otherStore, domains: { workflows, memory } })` with the
 * domains of this one.
 */

import { MastraCompositeStore, type RetentionConfig } from "@mastra/core/storage";
import { ValidationError } from "../../core/errors.js";
import { optionKeys, refuseUnknownKeys } from "../../core/input.js";
import { openStore, type Store, type StoreOptions } from "../../index.js";
import { FlowstoreMastraMemory } from "./memory/memory.js";
import { FlowstoreMastraWorkflows } from "./workflows.js";

export interface FlowstoreMastraStorageOptions {
  /** Mastra's id of the storage. */
  id: string;
  /** The flowstore store to keep Mastra's runs and memory in (opened, so migrated). */
  store?: Store;
  /**
   * Instead of `store`: where to open one, on first use, closed with the storage (flowstore's
   * `connection`: a URL, connection fields or a pg Pool). Neither: the embedded store in the working
   * directory, as `openStore()` opens it.
   */
  connection?: StoreOptions["connection"];
  /** With `connection` (or neither): the schema of the store opened (default flowstore's). */
  schema?: string;
  /** Mastra's option, accepted for compatibility: flowstore's store migrates when it opens. */
  disableInit?: boolean;
  /**
   * Mastra's retention: `storage.prune()` deletes what is older than each table's `maxAge`
   * (`workflows.workflowSnapshot`, `memory.messages`, `memory.threads`, `memory.resources`).
   */
  retention?: RetentionConfig;
}

const STORAGE_KEYS = optionKeys<FlowstoreMastraStorageOptions>({
  id: true,
  store: true,
  connection: true,
  schema: true,
  disableInit: true,
  retention: true,
});

export class FlowstoreMastraStorage extends MastraCompositeStore {
  private readonly given: Store | undefined;
  private readonly openOptions: StoreOptions;
  private opening: Promise<Store> | undefined;

  constructor(options: FlowstoreMastraStorageOptions) {
    refuseUnknownKeys(options, STORAGE_KEYS);
    if (typeof options.id !== "string" || options.id === "") {
      throw new ValidationError("id must be a non-empty string", { field: "id" });
    }
    if (options.store !== undefined && (options.connection !== undefined || options.schema !== undefined)) {
      throw new ValidationError(
        "give store (a flowstore store) or connection and schema to open one, not both",
        {
          field: "store",
        },
      );
    }
    super({
      id: options.id,
      name: "FlowstoreMastraStorage",
      disableInit: options.disableInit,
      retention: options.retention,
    });
    this.given = options.store;
    this.openOptions = {
      ...(options.connection !== undefined ? { connection: options.connection } : {}),
      ...(options.schema !== undefined ? { schema: options.schema } : {}),
    };
    const store = () => this.flowstore();
    this.stores = {
      workflows: new FlowstoreMastraWorkflows(store),
      memory: new FlowstoreMastraMemory(store),
    };
  }

  /** The flowstore store underneath (opened now if this storage opens its own). */
  flowstore(): Promise<Store> {
    if (this.given) return Promise.resolve(this.given);
    this.opening ??= openStore(this.openOptions);
    return this.opening;
  }

  /** Closes the store when this storage opened it; a store it was given stays open. */
  override async close(): Promise<void> {
    const opening = this.opening;
    this.opening = undefined;
    if (opening) await (await opening).close();
  }
}
