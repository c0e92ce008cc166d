/** The types of FlowstorePausedRuns (paused-runs.ts): its options, a saved run and its approvals. */

import type { Agent, RunContext, RunState } from "@openai/agents-core";
import type { Store } from "../../index.js";

// biome-ignore lint/suspicious/noExplicitAny: the SDK's own bound for an agent of any context and output.
export type AnyAgent = Agent<any, any>;

export interface FlowstorePausedRunsOptions {
  /** The store the runs are kept in (or a promise of one). */
  store: Store | Promise<Store>;
  /**
   * How long a saved run waits for its decisions, in milliseconds (default 7 days); null: no limit.
   * Past it the run can no longer be decided or resumed, and the retention task marks it expired.
   */
  expireAfterMs?: number | null;
  /** How long the retention task keeps a resumed or expired run's record, in milliseconds (default 7 days). */
  keepFinishedMs?: number;
}

export type PausedRunStatus = "paused" | "resumed" | "expired";

/** One tool call a paused run waits on, and its decision once made. */
export interface Approval {
  callId: string;
  agentName: string;
  toolName: string;
  /** The call's arguments as the model gave them (JSON text), where the call has any. */
  arguments: string | null;
  decision: "approved" | "rejected" | null;
  /** Decided for every later call of the tool in this run (alwaysApprove / alwaysReject). */
  always: boolean;
  /** The rejection's text for the model, where one was given. */
  message: string | null;
  decidedBy: string | null;
  decidedAt: Date | null;
}

export interface PausedRun {
  id: string;
  sessionId: string | null;
  agentName: string;
  status: PausedRunStatus;
  createdAt: Date;
  expiresAt: Date | null;
  /** When it was resumed or marked expired. */
  finishedAt: Date | null;
  resumedBy: string | null;
  /** The @openai/agents-core version that saved it, and its run state schema. */
  sdkVersion: string;
  stateSchema: string;
  approvals: Approval[];
}

export interface ListPausedRunsOptions {
  /** Only runs in this state (default 'paused'). */
  status?: PausedRunStatus;
  /** Only runs paused in this agent. */
  agent?: string;
  sessionId?: string;
  /** Only runs with an undecided approval of this tool. */
  tool?: string;
  /** Only runs saved at least this many milliseconds ago. */
  olderThanMs?: number;
  /** The run after which the page starts (the last id of the page before), oldest first. */
  after?: string;
  /** Runs per page (default 100, at most 1,000). */
  limit?: number;
}

export interface DecideOptions {
  /** Who decides: named to a decider who comes second. */
  by: string;
  /** For every later call of the tool in this run, not this call alone. */
  always?: boolean;
}

export interface RejectOptions extends DecideOptions {
  /** The rejection's text, given to the model in place of the tool's output. */
  message?: string;
}

export interface ResumeOptions<TContext> {
  /** Who resumes: named to a resumer who comes second. */
  by: string;
  /** The run context to restore the state into (RunState.fromStringWithContext). */
  context?: RunContext<TContext>;
}

/** What may be saved: a run's result (it has the state) or the state itself. */
export type PausedRunSource = { state: AnyRunState } | AnyRunState;

// biome-ignore lint/suspicious/noExplicitAny: a run's state of any context (RunState is invariant in it).
export type AnyRunState = RunState<any, AnyAgent>;
