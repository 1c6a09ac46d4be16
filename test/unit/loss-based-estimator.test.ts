import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { AcknowledgedBitrate } from "../../src/media/acknowledged-bitrate.ts"
import { LossBasedEstimator } from "../../src/media/loss-based-estimator.ts"

describe("loss-based estimator", () => {
  it("as a limit: absent until heavy loss, cut by half the loss, held on moderate loss, lifted once grown back", () => {
    const loss = new LossBasedEstimator({ minBps: 50_000, smoothing: 1 })
    loss.onLoss(0.05, 2_000_000, 2_000_000, 0, 100)
    expect(loss.limitBps).toBeUndefined()
    loss.onLoss(0.2, 2_000_000, 2_000_000, 100, 100)
    expect(loss.limitBps).toBeCloseTo(1_800_000)
    // Not again within 300 ms + RTT.
    loss.onLoss(0.2, 2_000_000, 2_000_000, 300, 100)
    expect(loss.limitBps).toBeCloseTo(1_800_000)
    loss.onLoss(0.2, 2_000_000, 2_000_000, 500, 100)
    expect(loss.limitBps).toBeCloseTo(1_620_000)
    loss.onLoss(0.05, 2_000_000, 2_000_000, 1500, 100)
    expect(loss.limitBps).toBeCloseTo(1_620_000)
    let nowMs = 1500
    while (loss.limitBps !== undefined && nowMs < 10_000) {
      nowMs += 500
      loss.onLoss(0, 2_000_000, 2_000_000, nowMs, 100)
    }
    expect(loss.limitBps).toBeUndefined()
    // 1.62 → 2 Mbit/s at about 8 %/s.
    expect(nowMs).toBeGreaterThan(3500)
    expect(nowMs).toBeLessThan(6000)
  })

  it("as an estimate of its own: starts where told, grows to the ceiling but is never lifted", () => {
    const loss = new LossBasedEstimator({ minBps: 50_000, initialBps: 1_000_000, smoothing: 1 })
    for (let nowMs = 0; nowMs <= 20_000; nowMs += 1000) loss.onLoss(0, 1_000_000, 1_500_000, nowMs, 100)
    expect(loss.limitBps).toBe(1_500_000)
  })

  it("judges smoothed loss: one unlucky window does not cut, sustained heavy loss does within a few", () => {
    const loss = new LossBasedEstimator({ minBps: 50_000, smoothing: 0.3 })
    loss.onLoss(0.05, 2_000_000, 2_000_000, 0, 100)
    loss.onLoss(0.15, 2_000_000, 2_000_000, 200, 100)
    loss.onLoss(0.05, 2_000_000, 2_000_000, 400, 100)
    expect(loss.limitBps).toBeUndefined()
    let nowMs = 400
    for (let window = 0; window < 3; window++) {
      nowMs += 200
      loss.onLoss(0.2, 2_000_000, 2_000_000, nowMs, 100)
    }
    expect(loss.limitBps).toBeLessThan(2_000_000)
  })

  it("stops cutting once a report shows a burst of loss is over, though the average still remembers it", () => {
    const loss = new LossBasedEstimator({ minBps: 50_000, smoothing: 0.3 })
    // The queue overflowed when the capacity fell: heavy loss for a few windows, one every 400 ms.
    let nowMs = 0
    const report = (lossFraction: number) => {
      nowMs += 400
      loss.onLoss(lossFraction, 2_000_000, 2_000_000, nowMs, 50)
    }
    for (let i = 0; i < 4; i++) report(0.6)
    const afterBurst = loss.limitBps!
    expect(afterBurst).toBeLessThan(1_000_000)
    expect(loss.currentLossFraction).toBeGreaterThan(0.1)
    // Then clean windows: the average needs seconds to forget, the limit does not fall further.
    report(0)
    expect(loss.averageLossFraction).toBeGreaterThan(0.1)
    expect(loss.currentLossFraction).toBe(0)
    for (let i = 0; i < 3; i++) report(0.02)
    expect(loss.limitBps).toBe(afterBurst)
    // A probe that got through may lift it now, without waiting for the average.
    loss.raiseTo(1_500_000)
    expect(loss.limitBps).toBe(1_500_000)
    // Loss that is heavy now still cuts.
    report(0.6)
    expect(loss.limitBps).toBeLessThan(1_500_000)
  })

  it("never drops below its floor and never yields a non-finite limit", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 2000 })), {
          maxLength: 200
        }),
        (reports) => {
          const loss = new LossBasedEstimator({ minBps: 50_000, initialBps: 1_000_000, smoothing: 0.3 })
          let nowMs = 0
          for (const [fraction, elapsedMs] of reports) {
            nowMs += elapsedMs
            loss.onLoss(fraction, loss.limitBps ?? 1_000_000, 3_000_000, nowMs, 50)
            const limit = loss.limitBps!
            expect(Number.isFinite(limit)).toBe(true)
            expect(limit).toBeGreaterThanOrEqual(50_000)
            expect(limit).toBeLessThanOrEqual(3_000_000)
          }
        }
      ),
      { seed: 51, numRuns: 300 }
    )
  })
})

describe("acknowledged bitrate", () => {
  it("measures a steady stream's rate from its arrival times", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 50_000, max: 20_000_000 }),
        fc.integer({ min: 200, max: 1500 }),
        (rateBps, sizeBytes) => {
          const acked = new AcknowledgedBitrate()
          const spacingMs = (sizeBytes * 8000) / rateBps
          for (let i = 0; i * spacingMs < 2000; i++) acked.onReceived(3e9 + i * spacingMs, sizeBytes)
          const measured = acked.bitrateBps()!
          expect(measured).toBeGreaterThan(0.97 * rateBps)
          expect(measured).toBeLessThan(1.03 * rateBps)
        }
      ),
      { seed: 52, numRuns: 200 }
    )
  })

  it("starts over when the receiver clock jumps back, and ages everything out when it jumps forward", () => {
    const acked = new AcknowledgedBitrate()
    for (let i = 0; i < 100; i++) acked.onReceived(10_000 + i * 10, 1200)
    expect(acked.bitrateBps()).toBeCloseTo(960_000, -3)
    acked.onReceived(1000, 1200)
    expect(acked.bitrateBps()).toBeUndefined()
    for (let i = 1; i < 50; i++) acked.onReceived(1000 + i * 10, 600)
    expect(acked.bitrateBps()).toBeCloseTo(480_000, -3)
    acked.onReceived(9e9, 1200)
    expect(acked.bitrateBps()).toBeUndefined()
  })
})
