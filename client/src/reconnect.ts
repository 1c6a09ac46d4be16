import { SignalingError } from "./signaling.ts"

/** How long ICE may stay `disconnected` (it often recovers by itself) before the SDK restarts it. */
export const DISCONNECTED_GRACE_MS = 2_000

/** ICE restarts tried in a row before the session is declared failed. */
export const MAX_RESTART_ATTEMPTS = 8

/** Delay before restart attempt `attempt` (0 first): immediate, then doubling from 500 ms up to 8 s. */
export const restartDelayMs = (attempt: number): number =>
  attempt <= 0 ? 0 : Math.min(8_000, 500 * 2 ** (attempt - 1))

/**
 * Whether a failed PATCH is worth repeating. The network being down, a server error or
 * overload may pass; an unknown participant (the server already dropped it), a stale ETag or
 * a rejected offer will not.
 */
export const restartRetryable = (error: unknown): boolean =>
  !(error instanceof SignalingError) || error.status >= 500 || error.status === 429 || error.status === 408
