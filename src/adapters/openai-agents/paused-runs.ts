/**
 * FlowstorePausedRuns: runs of the OpenAI Agents SDK paused on tool approvals, kept on a flowstore
 * store so that any process may list them, decide them and resume them.
 *
 * A run is saved with its state as the SDK serializes it and one row per approval it waits on. Each
 * approval is decided once: the statement that decides it takes it only while undecided, so of two
 * deciders one wins and the other is told who decided and how. A run is resumed once: the resume
 * takes it from 'paused' to 'resumed' in the transaction that restores its state, so of two processes
 * resuming it one gets the state to run and the other is told it is taken; a state that does not
 * restore (another SDK's schema, an agent graph it no longer matches) leaves it paused. A run that
 * waits past its expiry is refused, and marked expired by the retention task.
 */

import type { RunState } from "@openai/agents-core";
import { optionKeys, refuseUnknownKeys } from "../../core/input.js";
import { checkText } from "../../core/payload.js";
import { quoteIdentifier } from "../../db/sql.js";
import {
  ConflictError,
  type MaintenanceTask,
  NotFoundError,
  type Store,
  uuidv7,
  ValidationError,
} from "../../index.js";
import {
  APPROVAL_COLUMNS,
  type ApprovalRow,
  checkId,
  checkMs,
  lockRun,
  type RunRow,
  refuseFinished,
  selectRuns,
  toApproval,
  toPausedRun,
} from "./paused-run-rows.js";
import type {
  AnyAgent,
  AnyRunState,
  Approval,
  DecideOptions,
  FlowstorePausedRunsOptions,
  ListPausedRunsOptions,
  PausedRun,
  PausedRunSource,
  PausedRunStatus,
  RejectOptions,
  ResumeOptions,
} from "./paused-run-types.js";
import { callIdOf, describeApproval, installedSdkVersion, restore } from "./run-state.js";

const OPTION_KEYS = optionKeys<FlowstorePausedRunsOptions>({
  store: true,
  expireAfterMs: true,
  keepFinishedMs: true,
});
const LIST_KEYS = optionKeys<ListPausedRunsOptions>({
  status: true,
  agent: true,
  sessionId: true,
  tool: true,
  olderThanMs: true,
  after: true,
  limit: true,
});
const DECIDE_KEYS = optionKeys<RejectOptions>({ by: true, always: true, message: true });
const RESUME_KEYS = optionKeys<ResumeOptions<unknown>>({ by: true, context: true });

const DAY_MS = 24 * 60 * 60_000;
const STATUSES: readonly PausedRunStatus[] = ["paused", "resumed", "expired"];

export class FlowstorePausedRuns {
  private readonly ready: Promise<Store>;
  private readonly expireAfterMs: number | null;
  private readonly keepFinishedMs: number;

  constructor(options: FlowstorePausedRunsOptions) {
    if (!options || typeof options !== "object" || !options.store) {
      throw new ValidationError("FlowstorePausedRuns needs { store }", { field: "store" });
    }
    refuseUnknownKeys(options, OPTION_KEYS);
    this.expireAfterMs =
      options.expireAfterMs === null ? null : checkMs(options.expireAfterMs ?? 7 * DAY_MS, "expireAfterMs");
    this.keepFinishedMs = checkMs(options.keepFinishedMs ?? 7 * DAY_MS, "keepFinishedMs");
    this.ready = Promise.resolve(options.store);
    this.ready.catch(() => {});
  }

  /**
   * Saves a run paused on approvals (its result, or its state) with every approval it waits on, and
   * returns it. A run with no interruption is refused: there is nothing to decide.
   */
  async save(source: PausedRunSource, options: { sessionId?: string } = {}): Promise<PausedRun> {
    // A RunState by its shape, not its class: an application may load another copy of the SDK's core.
    const state = isRunState(source) ? source : (source as { state?: unknown } | undefined)?.state;
    if (!isRunState(state)) {
      throw new ValidationError("save() takes a run's result or its RunState", { field: "source" });
    }
    const sessionId =
      options.sessionId === undefined ? null : checkText(options.sessionId, "sessionId", 1024);
    const interruptions = state.getInterruptions();
    if (interruptions.length === 0) {
      throw new ValidationError("the run is not paused on an approval: it has no interruptions", {
        field: "source",
      });
    }
    const approvals = interruptions.map(describeApproval);
    if (new Set(approvals.map((a) => a.callId)).size !== approvals.length) {
      throw new ValidationError("the run's interruptions repeat a call id", { field: "source" });
    }
    const text = state.toString();
    const schema = String((JSON.parse(text) as { $schemaVersion?: unknown }).$schemaVersion ?? "?");
    const store = await this.ready;
    if (Buffer.byteLength(text) > store.limits.jsonBytes) {
      throw new ValidationError(
        `the run's state is ${Buffer.byteLength(text)} bytes, over the store's limit of ${store.limits.jsonBytes}`,
        { field: "source" },
      );
    }
    const q = quoteIdentifier(store.schema);
    const id = uuidv7();
    const agentName = state._currentAgent?.name ?? approvals[0]?.agentName ?? "";
    await store.query(
      `with run as (
         insert into ${q}.agent_paused_runs
           (id, session_id, agent_name, state, state_schema, sdk_version, expires_at)
         values ($1, $2, $3, $4, $5, $6, now() + $7::bigint * interval '1 millisecond')
         returning id)
       insert into ${q}.agent_run_approvals (run_id, call_id, position, agent_name, tool_name, arguments)
       select run.id, a.call_id, a.n - 1, a.agent_name, a.tool_name, a.arguments
         from run, unnest($8::text[], $9::text[], $10::text[], $11::text[])
                     with ordinality as a(call_id, agent_name, tool_name, arguments, n)`,
      [
        id,
        sessionId,
        agentName,
        text,
        schema,
        installedSdkVersion(),
        this.expireAfterMs,
        approvals.map((a) => a.callId),
        approvals.map((a) => a.agentName),
        approvals.map((a) => a.toolName),
        approvals.map((a) => a.arguments),
      ],
    );
    const saved = await this.get(id);
    if (!saved) throw new NotFoundError(`paused run ${id} is gone right after it was saved`);
    return saved;
  }

  /** The run saved under `id` with its approvals, or undefined. */
  async get(id: string): Promise<PausedRun | undefined> {
    checkId(id);
    const store = await this.ready;
    const q = quoteIdentifier(store.schema);
    const { rows } = await store.query<RunRow>(`${selectRuns(q)} where r.id = $1`, [id]);
    return rows[0] && toPausedRun(rows[0]);
  }

  /** Runs oldest first (waiting ones by default), with their approvals, for a list to decide from. */
  async list(options: ListPausedRunsOptions = {}): Promise<PausedRun[]> {
    refuseUnknownKeys(options, LIST_KEYS);
    const status = options.status ?? "paused";
    if (!STATUSES.includes(status)) {
      throw new ValidationError(`status must be one of ${STATUSES.join(", ")}`, { field: "status" });
    }
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new ValidationError("limit must be a whole number from 1 to 1,000", { field: "limit" });
    }
    if (options.after !== undefined) checkId(options.after);
    const olderThanMs =
      options.olderThanMs === undefined ? null : checkMs(options.olderThanMs, "olderThanMs");
    const text = (value: string | undefined, field: string) =>
      value === undefined ? null : checkText(value, field, 1024);
    const store = await this.ready;
    const q = quoteIdentifier(store.schema);
    const { rows } = await store.query<RunRow>(
      `${selectRuns(q)}
        where r.status = $1
          and ($2::text is null or r.agent_name = $2)
          and ($3::text is null or r.session_id = $3)
          and ($4::text is null or exists (select 1 from ${q}.agent_run_approvals t
                where t.run_id = r.id and t.tool_name = $4 and t.decision is null))
          and ($5::bigint is null or r.created_at <= now() - $5::bigint * interval '1 millisecond')
          and ($6::uuid is null or (r.created_at, r.id) >
                (select created_at, id from ${q}.agent_paused_runs where id = $6))
        order by r.created_at, r.id
        limit $7`,
      [
        status,
        text(options.agent, "agent"),
        text(options.sessionId, "sessionId"),
        text(options.tool, "tool"),
        olderThanMs,
        options.after ?? null,
        limit,
      ],
    );
    return rows.map(toPausedRun);
  }

  /** Approves one call of a paused run, once: a second decision of it is refused (ConflictError). */
  approve(id: string, callId: string, options: DecideOptions): Promise<Approval> {
    return this.decide(id, callId, "approved", options);
  }

  /** Rejects one call of a paused run, once, with an optional message for the model. */
  reject(id: string, callId: string, options: RejectOptions): Promise<Approval> {
    return this.decide(id, callId, "rejected", options);
  }

  /**
   * Takes a run whose every approval is decided to run it: its state restored for `agent` with the
   * decisions applied, for `run(agent, state)`. Once only: a second resume is refused (ConflictError
   * naming who took it), as is a run still waiting on a decision or past its expiry. A state that does
   * not restore is refused and the run stays paused.
   */
  async resume<TContext, TAgent extends AnyAgent>(
    id: string,
    agent: TAgent,
    options: ResumeOptions<TContext>,
  ): Promise<RunState<TContext, TAgent>> {
    checkId(id);
    refuseUnknownKeys(options ?? {}, RESUME_KEYS);
    const by = checkText(options?.by, "by", 1024);
    const store = await this.ready;
    const q = quoteIdentifier(store.schema);
    return store.transaction(async (tx) => {
      const run = await lockRun(tx, q, id);
      refuseFinished(run);
      const waiting = run.approvals.filter((a) => a.decision === null);
      if (waiting.length > 0) {
        throw new ConflictError(
          `paused run ${id} still waits on ${waiting.length} approval(s): ${waiting.map((a) => `${a.toolName} (${a.callId})`).join(", ")}`,
        );
      }
      const state = await restore<TContext, TAgent>(run, agent, options.context);
      for (const item of state.getInterruptions()) {
        const approval = run.approvals.find((a) => a.callId === callIdOf(item));
        if (!approval) {
          throw new ConflictError(`paused run ${id}'s state waits on a call it has no approval for`);
        }
        if (approval.decision === "approved") state.approve(item, { alwaysApprove: approval.always });
        else
          state.reject(item, {
            alwaysReject: approval.always,
            ...(approval.message === null ? {} : { message: approval.message }),
          });
      }
      await tx.query(
        `update ${q}.agent_paused_runs set status = 'resumed', resumed_by = $2, finished_at = now()
          where id = $1`,
        [id, by],
      );
      return state;
    });
  }

  /** Marks runs past their expiry expired; returns how many. */
  async expire(): Promise<number> {
    const store = await this.ready;
    const q = quoteIdentifier(store.schema);
    const { rows } = await store.query<{ n: number }>(
      `with expired as (
         update ${q}.agent_paused_runs set status = 'expired', finished_at = now()
          where id in (select id from ${q}.agent_paused_runs
                        where status = 'paused' and expires_at <= now()
                        for update skip locked)
         returning 1)
       select count(*)::int as n from expired`,
    );
    return rows[0]?.n ?? 0;
  }

  /** Removes the records of runs resumed or expired more than keepFinishedMs ago; returns how many. */
  async removeFinished(): Promise<number> {
    const store = await this.ready;
    const q = quoteIdentifier(store.schema);
    const { rows } = await store.query<{ n: number }>(
      `with removed as (
         delete from ${q}.agent_paused_runs
          where status <> 'paused' and finished_at <= now() - $1::bigint * interval '1 millisecond'
         returning 1)
       select count(*)::int as n from removed`,
      [this.keepFinishedMs],
    );
    return rows[0]?.n ?? 0;
  }

  /** For store.startMaintenance({ retention: [...] }): expires overdue runs, removes old finished ones. */
  retentionTask(): MaintenanceTask {
    return {
      name: "openai-agents paused runs",
      run: async () => ({ expired: await this.expire(), removed: await this.removeFinished() }),
    };
  }

  private async decide(
    id: string,
    callId: string,
    decision: "approved" | "rejected",
    options: RejectOptions,
  ): Promise<Approval> {
    checkId(id);
    checkText(callId, "callId", 1024);
    refuseUnknownKeys(options ?? {}, DECIDE_KEYS);
    const by = checkText(options?.by, "by", 1024);
    const always = options.always ?? false;
    if (typeof always !== "boolean")
      throw new ValidationError("always must be a boolean", { field: "always" });
    if (decision === "approved" && options.message !== undefined) {
      throw new ValidationError("a message goes with a rejection, not an approval", { field: "message" });
    }
    const message = options.message === undefined ? null : checkText(options.message, "message");
    const store = await this.ready;
    const q = quoteIdentifier(store.schema);
    // Taken only while undecided, in a run still waiting and not past its expiry; the run's row is
    // shared-locked, so a resume or an expiry that changes it waits for the decision.
    const { rows } = await store.query<ApprovalRow>(
      `update ${q}.agent_run_approvals a
          set decision = $3, always = $4, message = $5, decided_by = $6, decided_at = now()
         from (select id from ${q}.agent_paused_runs
                where id = $1 and status = 'paused' and (expires_at is null or expires_at > now())
                for share) run
        where a.run_id = run.id and a.call_id = $2 and a.decision is null
        returning ${APPROVAL_COLUMNS}`,
      [id, callId, decision, always, message, by],
    );
    if (rows[0]) return toApproval(rows[0]);
    // Not taken: say why.
    const run = await this.get(id);
    if (!run) throw new NotFoundError(`no paused run ${id}`);
    refuseFinished(run);
    const approval = run.approvals.find((a) => a.callId === callId);
    if (!approval) throw new NotFoundError(`paused run ${id} waits on no call ${callId}`);
    throw new ConflictError(
      `call ${callId} (${approval.toolName}) of paused run ${id} was already ${approval.decision}` +
        `${approval.always ? " for every call of the tool" : ""} by ${approval.decidedBy} at ${approval.decidedAt?.toISOString()}`,
    );
  }
}

function isRunState(value: unknown): value is AnyRunState {
  const state = value as Partial<AnyRunState> | null | undefined;
  return (
    typeof state?.toString === "function" &&
    typeof state.getInterruptions === "function" &&
    typeof state.approve === "function"
  );
}
