/**
 * Which buffered chunks a swap activates (Mastra's rule, as its own stores apply it): the fewest from
 * the oldest whose message tokens bring what remains in context down to the retention floor, a little
 * over rather than under, never leaving less than the floor's safety margin when that can be helped.
 */

import type {
  BufferedObservationChunk,
  SwapBufferedToActiveInput,
  SwapBufferedToActiveResult,
} from "@mastra/core/storage";
import { ValidationError } from "../../../core/errors.js";
import type { MastraSql } from "../tables.js";
import { lockHeadAfter, lockRecord, recordNotFound } from "./observational-generations.js";
import { checkCount } from "./observational-rows.js";

/** How activated observations are set apart from those before them (Mastra's own marker). */
export const BOUNDARY_START = "\n\n--- message boundary (";

export const NOTHING_ACTIVATED: SwapBufferedToActiveResult = {
  chunksActivated: 0,
  messageTokensActivated: 0,
  observationTokensActivated: 0,
  messagesActivated: 0,
  activatedCycleIds: [],
  activatedMessageIds: [],
};

/** The swap's numbers, checked before anything is read or written. */
export function checkSwapInput(input: SwapBufferedToActiveInput): void {
  const ratio = input.activationRatio;
  if (typeof ratio !== "number" || !(ratio >= 0 && ratio <= 1)) {
    throw new ValidationError("activationRatio must be a number from 0 to 1", { field: "activationRatio" });
  }
  checkCount(input.messageTokensThreshold, "messageTokensThreshold");
  checkCount(input.currentPendingTokens, "currentPendingTokens");
  if (input.bufferedChunks !== undefined && !Array.isArray(input.bufferedChunks)) {
    throw new ValidationError("bufferedChunks must be an array", { field: "bufferedChunks" });
  }
}

/**
 * The stored chunks (oldest first) weighed by the caller's refreshed ones where it gives them, by id:
 * only stored chunks are ever activated, so a chunk another process appended or activated meanwhile is
 * neither lost nor activated twice.
 */
export function weighed(
  stored: BufferedObservationChunk[],
  refreshed: BufferedObservationChunk[] | undefined,
): BufferedObservationChunk[] {
  const tokens = new Map((refreshed ?? []).map((c) => [c.id, c.messageTokens]));
  return stored.map((c) => {
    const given = tokens.get(c.id);
    return typeof given === "number" && Number.isFinite(given) ? { ...c, messageTokens: given } : c;
  });
}

/** How many of `chunks` (oldest first) to activate. */
export function chunksToActivate(
  chunks: BufferedObservationChunk[],
  input: SwapBufferedToActiveInput,
): number {
  const weight = (c: BufferedObservationChunk) => c.messageTokens ?? 0;
  const retentionFloor = input.messageTokensThreshold * (1 - input.activationRatio);
  const target = Math.max(0, input.currentPendingTokens - retentionFloor);
  let cumulative = 0;
  let over = { boundary: 0, tokens: 0 };
  let under = { boundary: 0, tokens: 0 };
  chunks.forEach((chunk, i) => {
    cumulative += weight(chunk);
    if (cumulative >= target) {
      if (over.boundary === 0 || cumulative < over.tokens) over = { boundary: i + 1, tokens: cumulative };
    } else if (cumulative > under.tokens) {
      under = { boundary: i + 1, tokens: cumulative };
    }
  });
  const minRemaining = Math.min(1000, retentionFloor);
  const overKeepsEnough = input.currentPendingTokens - over.tokens >= minRemaining;
  if (over.boundary > 0 && overKeepsEnough) {
    if (input.forceMaxActivation || over.tokens - target <= retentionFloor * 0.95) return over.boundary;
  }
  if (under.boundary > 0 && input.currentPendingTokens - under.tokens >= minRemaining) return under.boundary;
  return over.boundary > 0 ? over.boundary : 1;
}

/** What a swap tells Mastra it activated. */
export function activationResult(activated: BufferedObservationChunk[]): SwapBufferedToActiveResult {
  const latest = activated[activated.length - 1];
  return {
    chunksActivated: activated.length,
    messageTokensActivated: activated.reduce((sum, c) => sum + (c.messageTokens ?? 0), 0),
    observationTokensActivated: activated.reduce((sum, c) => sum + c.tokenCount, 0),
    messagesActivated: activated.reduce((sum, c) => sum + c.messageIds.length, 0),
    activatedCycleIds: activated.map((c) => c.cycleId).filter((id) => !!id),
    activatedMessageIds: activated.flatMap((c) => c.messageIds ?? []),
    observations: activated.map((c) => c.observations).join("\n\n"),
    perChunk: activated.map((c) => ({
      cycleId: c.cycleId ?? "",
      messageTokens: c.messageTokens ?? 0,
      observationTokens: c.tokenCount,
      messageCount: c.messageIds.length,
      observations: c.observations,
    })),
    ...(latest?.suggestedContinuation ? { suggestedContinuation: latest.suggestedContinuation } : {}),
    ...(latest?.currentTask ? { currentTask: latest.currentTask } : {}),
  };
}

/**
 * Activates the chunks of record `id` (or of the head that replaced it) under the row's lock: a chunk
 * appended meanwhile stays buffered, and a second swap finds only what the first left.
 */
export function swapChunks(
  { db, q }: MastraSql,
  id: string,
  input: SwapBufferedToActiveInput,
  lastObservedAt: Date | undefined,
): Promise<SwapBufferedToActiveResult> {
  return db.transaction(async (tx) => {
    const locked = await lockRecord(tx, q, id);
    if (!locked) throw recordNotFound(id);
    const row = await lockHeadAfter(tx, q, locked);
    const stored = row.bufferedChunks ?? [];
    if (stored.length === 0) return { ...NOTHING_ACTIVATED };
    const chunks = weighed(stored, input.bufferedChunks);
    const count = chunksToActivate(chunks, input);
    const activated = chunks.slice(0, count);
    const result = activationResult(activated);
    const latest = activated[activated.length - 1];
    const observedAt = lastObservedAt ?? (latest ? new Date(latest.lastObservedAt) : new Date());
    const boundary = `${BOUNDARY_START}${observedAt.toISOString()}) ---\n\n`;
    const remaining = stored.slice(count);
    await tx.query(
      `update ${q}.mastra_observational_memory set
         active_observations = case when active_observations <> '' then active_observations || $2 || $3 else $3 end,
         observation_token_count = observation_token_count + $4,
         pending_message_tokens = greatest(0, pending_message_tokens - $5),
         buffered_chunks = $6::jsonb, last_observed_at = $7, updated_at = now()
       where id = $1`,
      [
        row.id,
        boundary,
        result.observations,
        result.observationTokensActivated,
        result.messageTokensActivated,
        remaining.length ? JSON.stringify(remaining) : null,
        observedAt,
      ],
    );
    return result;
  });
}
