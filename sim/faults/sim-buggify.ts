import { type Buggify, type BuggifySite, buggifySites } from "../../src/fault/buggify.ts"
import type { Rng } from "../engine/rng.ts"

/** Per-mille chance that each site starts misbehaving on a call. */
const DEFAULT_PER_MILLE: Record<BuggifySite, number> = {
  "track.inbox-full": 2,
  "track.batch-delay": 3,
  "track.keyframe-request-lost": 50,
  "slot.queue-full": 2,
  "slot.send-failed": 2
}

/** Once a site fires, it keeps firing for a few calls: a queue is full for a moment, not for one packet. */
const BURST: Record<BuggifySite, [number, number]> = {
  "track.inbox-full": [1, 8],
  "track.batch-delay": [1, 1],
  "track.keyframe-request-lost": [1, 1],
  "slot.queue-full": [1, 16],
  "slot.send-failed": [1, 3]
}

export const MAX_INJECTED_DELAY_MS = 40

/** The simulation's Buggify: seeded, bursty, and counting what fired where. */
export class SimBuggify implements Buggify {
  readonly enabled = true
  readonly fired = Object.fromEntries(buggifySites.map((s) => [s, 0])) as Record<BuggifySite, number>
  private readonly burstLeft = new Map<BuggifySite, number>()
  /** Told about every fault that fires (the runner writes it into the trace). */
  onFire: (site: BuggifySite) => void = () => undefined

  constructor(
    private readonly rng: Rng,
    private readonly perMille: Record<BuggifySite, number> = DEFAULT_PER_MILLE
  ) {}

  fires(site: BuggifySite): boolean {
    const left = this.burstLeft.get(site) ?? 0
    if (left > 0) {
      this.burstLeft.set(site, left - 1)
      this.fired[site]++
      this.onFire(site)
      return true
    }
    if (this.rng.next() * 1000 >= this.perMille[site]) return false
    const [min, max] = BURST[site]
    this.burstLeft.set(site, this.rng.int(min, max) - 1)
    this.fired[site]++
    this.onFire(site)
    return true
  }

  delayMs(): number {
    return this.rng.int(5, MAX_INJECTED_DELAY_MS)
  }
}
