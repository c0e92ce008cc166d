/**
 * The queue the claims bench times its claims in and the worker id they claim as: shared by the shapes
 * (some put their backlog in that queue), the timed rounds and the EXPLAINed claim.
 */

export const QUEUE = "q";
export const WORKER = "bench-claims";
