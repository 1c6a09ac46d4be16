import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { KeyframeRequestThrottle } from "../../src/media/keyframe-request-throttle.ts"

describe("KeyframeRequestThrottle", () => {
  it("accepts the first request and suppresses repeats within the interval", () => {
    const t = new KeyframeRequestThrottle(500)
    expect(t.tryRequest(1000)).toBe(true)
    expect(t.tryRequest(1000)).toBe(false)
    expect(t.tryRequest(1499)).toBe(false)
    expect(t.suppressed).toBe(2)
    expect(t.tryRequest(1500)).toBe(true)
    expect(t.tryRequest(1700)).toBe(false)
    expect(t.suppressed).toBe(3)
  })

  it("measures from the last accepted request, not the last attempt", () => {
    const t = new KeyframeRequestThrottle(500)
    t.tryRequest(0)
    for (let now = 10; now < 500; now += 10) expect(t.tryRequest(now)).toBe(false)
    expect(t.tryRequest(500)).toBe(true)
  })

  it("accepts again after reset", () => {
    const t = new KeyframeRequestThrottle(500)
    t.tryRequest(0)
    t.reset()
    expect(t.tryRequest(1)).toBe(true)
  })

  it("accepts exactly the requests at least minInterval after the previous accepted one", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 1e9 }),
        fc.array(fc.integer({ min: 0, max: 700 }), { maxLength: 200 }),
        (interval, start, gaps) => {
          const t = new KeyframeRequestThrottle(interval)
          let now = start
          const times = gaps.map((g) => {
            now += g
            return now
          })
          const accepted: number[] = []
          let rejected = 0
          for (const time of times) {
            const ok = t.tryRequest(time)
            const last = accepted.at(-1)
            // A request goes through whenever the previous accepted one is at least `interval` ago.
            expect(ok).toBe(last === undefined || time - last >= interval)
            if (ok) accepted.push(time)
            else {
              rejected++
              // A suppressed request is always covered by an accepted one in the last `interval`.
              expect(time - last!).toBeLessThan(interval)
            }
          }
          for (let i = 1; i < accepted.length; i++) {
            expect(accepted[i]! - accepted[i - 1]!).toBeGreaterThanOrEqual(interval)
          }
          expect(t.suppressed).toBe(rejected)
        }
      ),
      { seed: 42, numRuns: 300 }
    )
  })
})
