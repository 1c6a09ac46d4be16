import type { ParticipantRole } from "../../src/participant/participant.ts"
import type { ProfileName } from "../network/profiles.ts"

/** A generated scenario, as plain data: printable, shrinkable, and replayable as a regression. */

export interface ChaosClient {
  readonly room: number
  readonly role: ParticipantRole
  readonly audio: boolean
  readonly video: "none" | "plain" | "simulcast"
  readonly receives: { readonly audio: number; readonly video: number }
  readonly profile: Extract<ProfileName, "fiber" | "wifi" | "cellular">
  readonly joinAt: number
  readonly keyframeIntervalMs: number
}

export type ChaosFault =
  | { readonly kind: "partition"; readonly client: number; readonly at: number; readonly duration: number }
  | {
      readonly kind: "crash"
      readonly client: number
      readonly at: number
      readonly restartAfter: number | null
    }
  | {
      readonly kind: "leave"
      readonly client: number
      readonly at: number
      readonly rejoinAfter: number | null
    }
  | {
      readonly kind: "close"
      readonly client: number
      readonly at: number
      readonly rejoinAfter: number | null
    }
  /** Joins anew while the server still holds the old session. */
  | { readonly kind: "rejoin"; readonly client: number; readonly at: number }
  | { readonly kind: "ice-restart"; readonly client: number; readonly at: number }
  | {
      readonly kind: "loss"
      readonly client: number
      readonly at: number
      readonly duration: number
      readonly loss: number
      readonly bursty: boolean
    }
  | { readonly kind: "reorder"; readonly client: number; readonly at: number; readonly duration: number }
  /** The downlink drops to 50 kbit/s. */
  | { readonly kind: "slow"; readonly client: number; readonly at: number; readonly duration: number }
  | { readonly kind: "stuck"; readonly client: number; readonly at: number; readonly duration: number }
  | { readonly kind: "pause-layer"; readonly client: number; readonly at: number; readonly duration: number }
  /** A storm of short-lived clients joining and going away in one room. */
  | {
      readonly kind: "churn"
      readonly room: number
      readonly at: number
      readonly count: number
      readonly lifetime: number
    }

export interface ChaosSpec {
  readonly rooms: number
  readonly clients: ReadonlyArray<ChaosClient>
  readonly faults: ReadonlyArray<ChaosFault>
  /** How long faults are applied before everything heals. */
  readonly chaosMs: number
  /** After healing, one subscriber is made stuck or slow while the others must not suffer. */
  readonly isolation: { readonly victim: number; readonly kind: "stuck" | "slow" } | null
  readonly buggify: boolean
}
