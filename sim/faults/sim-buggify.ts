import { type Buggify, type BuggifySite, buggifySites } from "../../src/fault/buggify.ts"
import type { Rng } from "../engine/rng.ts"

/** Per-mille chance that each site starts misbehaving on a call. */
const DEFAULT_PER_MILLE: Record<BuggifySite, number> = {
  "track.inbox-full": 2,
  "track.batch-delay": 3,
  "track.keyframe-request-lost": 50,
  "slot.queue-full": 2,
  "slot.send-failed": 2,
  // A supervised fiber asks once a simulated second whether it dies. A participant has a dozen
  // of them (a few per track and slot), a room two: a chaos run of a minute loses one now and then.
  "fiber.track-inbox": 0.4,
  "fiber.track-nack-poll": 0.4,
  "fiber.slot-forwarder": 0.2,
  "fiber.downlink-tick": 0.4,
  "fiber.layer-allocation": 0.4,
  "fiber.watchdog": 0.4,
  "fiber.transport-timer": 0.4,
  "fiber.room": 2
}

/** Once a site fires, it keeps firing for a few calls: a queue is full for a moment, not for one packet. */
const BURST: Record<BuggifySite, [number, number]> = {
  "track.inbox-full": [1, 8],
  "track.batch-delay": [1, 1],
  "track.keyframe-request-lost": [1, 1],
  "slot.queue-full": [1, 16],
  "slot.send-failed": [1, 3],
  "fiber.track-inbox": [1, 1],
  "fiber.track-nack-poll": [1, 1],
  "fiber.slot-forwarder": [1, 1],
  "fiber.downlink-tick": [1, 1],
  "fiber.layer-allocation": [1, 1],
  "fiber.watchdog": [1, 1],
  "fiber.transport-timer": [1, 1],
  "fiber.room": [1, 1]
}

export const MAX_INJECTED_DELAY_MS = 40

const killsAFiber = (site: BuggifySite) => site.startsWith("fiber.")

/** The simulation's Buggify: seeded, bursty, and counting what fired where. */
export class SimBuggify implements Buggify {
  readonly enabled = true
  readonly fired = Object.fromEntries(buggifySites.map((s) => [s, 0])) as Record<BuggifySite, number>
  private readonly burstLeft = new Map<BuggifySite, number>()
  private readonly perMille: Record<BuggifySite, number>
  private calm = false
  /** Told about every fault that fires, with what it hit (the runner traces it and keeps the fiber failures). */
  onFire: (site: BuggifySite, subject: string | undefined) => void = () => undefined

  constructor(
    private readonly rng: Rng,
    rates: Partial<Record<BuggifySite, number>> = {}
  ) {
    this.perMille = { ...DEFAULT_PER_MILLE, ...rates }
  }

  /**
   * From now on no fiber is killed (the other faults go on): a scenario's closing checks
   * (liveness, fault isolation) judge a server that is allowed to recover.
   */
  quiet(): void {
    this.calm = true
  }

  fires(site: BuggifySite, subject?: string): boolean {
    if (this.calm && killsAFiber(site)) return false
    const left = this.burstLeft.get(site) ?? 0
    if (left > 0) {
      this.burstLeft.set(site, left - 1)
      this.fired[site]++
      this.onFire(site, subject)
      return true
    }
    if (this.rng.next() * 1000 >= this.perMille[site]) return false
    const [min, max] = BURST[site]
    this.burstLeft.set(site, this.rng.int(min, max) - 1)
    this.fired[site]++
    this.onFire(site, subject)
    return true
  }

  delayMs(): number {
    return this.rng.int(5, MAX_INJECTED_DELAY_MS)
  }
}
