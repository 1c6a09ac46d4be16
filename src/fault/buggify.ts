import { Context } from "effect"

/**
 * Seeded fault injection, FoundationDB style: named points in the server where a
 * simulation can make a rare thing happen on purpose. Production never enables it; each
 * call site costs one boolean check.
 */
export type BuggifySite =
  /** A publisher's packet is dropped as if the track's inbox were full. */
  | "track.inbox-full"
  /** The track fiber stalls before handling a batch, as a slow mailbox would. */
  | "track.batch-delay"
  /** A keyframe request that passed the throttle never reaches the publisher. */
  | "track.keyframe-request-lost"
  /** A subscriber's queue is briefly full. */
  | "slot.queue-full"
  /** The transport fails to send one packet to a subscriber. */
  | "slot.send-failed"
  /** A participant's or room's fiber dies (see `fault/supervision.ts`); its owner must end cleanly. */
  | "fiber.track-inbox"
  | "fiber.track-nack-poll"
  | "fiber.slot-forwarder"
  | "fiber.downlink-tick"
  | "fiber.layer-allocation"
  | "fiber.watchdog"
  | "fiber.transport-timer"
  | "fiber.room"

export const buggifySites: ReadonlyArray<BuggifySite> = [
  "track.inbox-full",
  "track.batch-delay",
  "track.keyframe-request-lost",
  "slot.queue-full",
  "slot.send-failed",
  "fiber.track-inbox",
  "fiber.track-nack-poll",
  "fiber.slot-forwarder",
  "fiber.downlink-tick",
  "fiber.layer-allocation",
  "fiber.watchdog",
  "fiber.transport-timer",
  "fiber.room"
]

export interface Buggify {
  readonly enabled: boolean
  /**
   * Whether the fault at `site` happens now. Call only when `enabled`. `subject` names what
   * it hits (a participant id, a room name) where the simulation checks the aftermath.
   */
  readonly fires: (site: BuggifySite, subject?: string) => boolean
  /** How long an injected stall lasts, in milliseconds. */
  readonly delayMs: (site: BuggifySite) => number
}

export const buggifyDisabled: Buggify = {
  enabled: false,
  fires: () => false,
  delayMs: () => 0
}

export const Buggify = Context.Reference<Buggify>("prism/Buggify", { defaultValue: () => buggifyDisabled })
