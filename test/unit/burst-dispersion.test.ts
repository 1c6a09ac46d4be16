import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { BurstDispersion } from "../../src/media/burst-dispersion.ts"

interface Reported {
  readonly sendTimeMs: number
  readonly arrivalTimeMs: number | undefined
  readonly sizeBytes: number
}

/** A burst of `sizes` sent at `sendTimeMs` through an idle bottleneck of `capacityBps`, arrival times rounded to the receiver's 0.25 ms ticks. */
const burstThrough = (
  sendTimeMs: number,
  sizes: ReadonlyArray<number>,
  capacityBps: number,
  lost: ReadonlySet<number> = new Set()
): Reported[] => {
  let leavesAtMs = sendTimeMs + 20
  return sizes.map((sizeBytes, i) => {
    leavesAtMs += (sizeBytes * 8000) / capacityBps
    const arrivalTimeMs = lost.has(i) ? undefined : Math.round(leavesAtMs * 4) / 4
    return { sendTimeMs: sendTimeMs + (i % 2) * 0.5, arrivalTimeMs, sizeBytes }
  })
}

const measure = (packets: ReadonlyArray<Reported>): number[] => {
  const dispersion = new BurstDispersion()
  const out: number[] = []
  for (const p of packets) {
    const bps = dispersion.add(p.sendTimeMs, p.arrivalTimeMs, p.sizeBytes)
    if (bps !== undefined) out.push(bps)
  }
  return out
}

/** A packet sent later closes the burst before it. */
const closer: Reported = { sendTimeMs: 1000, arrivalTimeMs: 2000, sizeBytes: 100 }

describe("burst dispersion", () => {
  it("reads the bottleneck's rate off a burst the link spread out, whatever random packets of it were lost", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 300_000, max: 20_000_000 }),
        fc.array(fc.integer({ min: 200, max: 1200 }), { minLength: 12, maxLength: 60 }),
        fc.uniqueArray(fc.nat(59), { maxLength: 3 }),
        (capacityBps, sizes, lostIndices) => {
          const packets = burstThrough(0, sizes, capacityBps, new Set(lostIndices))
          const spanMs = sizes.slice(1).reduce((ms, size) => ms + (size * 8000) / capacityBps, 0)
          const [bps] = measure([...packets, closer])
          if (spanMs < 12) return
          expect(bps).toBeDefined()
          // Arrival ticks of 0.25 ms at both ends; a lost packet leaves a gap, so the rate may only be lower,
          // by at most the share of bytes lost.
          const received = sizes.filter((_, i) => !lostIndices.includes(i))
          const share =
            (received.reduce((a, b) => a + b, 0) - received[0]!) /
            (sizes.reduce((a, b) => a + b, 0) - sizes[0]!)
          expect(bps!).toBeLessThanOrEqual(capacityBps * (1 + 0.5 / spanMs) + 1)
          expect(bps!).toBeGreaterThanOrEqual(capacityBps * share * (1 - 0.5 / spanMs) - 1)
        }
      ),
      { seed: 5, numRuns: 200 }
    )
  })

  it("says nothing of a burst the link did not spread, of a small one, or before the burst is over", () => {
    // Uncapped: all arrive within a millisecond.
    expect(measure([...burstThrough(0, Array(40).fill(1200), 1e12), closer])).toEqual([])
    // Three packets.
    expect(measure([...burstThrough(0, Array(3).fill(1200), 200_000), closer])).toEqual([])
    // Not closed yet.
    expect(measure(burstThrough(0, Array(40).fill(1200), 3_000_000))).toEqual([])
  })

  it("does not mistake packets paced out by the sender for a burst", () => {
    const paced: Reported[] = Array.from({ length: 100 }, (_, i) => ({
      sendTimeMs: i * 5,
      arrivalTimeMs: 50 + i * 5,
      sizeBytes: 1200
    }))
    expect(measure([...paced, closer])).toEqual([])
  })

  it("measures each burst on its own", () => {
    const first = burstThrough(0, Array(30).fill(1200), 3_000_000)
    const second = burstThrough(500, Array(30).fill(1200), 1_000_000)
    const [a, b] = measure([...first, ...second, closer])
    expect(a).toBeCloseTo(3_000_000, -5)
    expect(b).toBeCloseTo(1_000_000, -5)
  })
})
