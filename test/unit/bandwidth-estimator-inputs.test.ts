import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { BandwidthEstimator } from "../../src/media/bandwidth-estimator.ts"
import type { CongestionFeedback, PacketResult } from "../../src/transport/transport.ts"
import { runSession } from "../support/bottleneck-link.ts"

const receiverReport = (nowMs: number, fractionLost: number, rttMs?: number): CongestionFeedback => ({
  _tag: "ReceiverReport",
  nowMs,
  fractionLost,
  rttMs
})

describe("bandwidth estimator sources", () => {
  it("says it knows nothing until feedback arrives, and does not probe blind", () => {
    const estimator = new BandwidthEstimator()
    estimator.setDesiredBitrate(5_000_000)
    for (let nowMs = 0; nowMs < 5000; nowMs += 10) expect(estimator.tick(nowMs)).toBe(0)
    expect(estimator.estimate()).toEqual({ bitrateBps: 1_000_000, source: "none", congestion: "normal" })
  })

  it("takes a REMB alone as the estimate, within bounds, until it goes silent", () => {
    const estimator = new BandwidthEstimator()
    estimator.onFeedback({ _tag: "Remb", nowMs: 0, bitrateBps: 1_234_000 })
    expect(estimator.estimate()).toMatchObject({ bitrateBps: 1_234_000, source: "remb" })
    estimator.onFeedback({ _tag: "Remb", nowMs: 1000, bitrateBps: 20_000 })
    expect(estimator.estimate().bitrateBps).toBe(50_000)
    estimator.onFeedback({ _tag: "Remb", nowMs: 2000, bitrateBps: 1e12 })
    expect(estimator.estimate().bitrateBps).toBe(10_000_000)
    estimator.tick(11_000)
    expect(estimator.estimate().source).toBe("remb")
    estimator.tick(12_001)
    expect(estimator.estimate().source).toBe("none")
  })

  it("lets a REMB cap the transport-cc estimate, and says so only while it binds", () => {
    const estimator = new BandwidthEstimator({ startBps: 300_000 })
    runSession(estimator, {
      initial: { capacityBps: 2_500_000, lossRate: 0 },
      durationMs: 5000,
      demandBps: 5_000_000,
      seed: 1
    })
    const uncapped = estimator.estimate()
    expect(uncapped.source).toBe("transport-cc")
    expect(uncapped.bitrateBps).toBeGreaterThan(1_000_000)
    estimator.onFeedback({ _tag: "Remb", nowMs: 5000, bitrateBps: 700_000 })
    expect(estimator.estimate()).toMatchObject({ bitrateBps: 700_000, source: "remb" })
    estimator.onFeedback({ _tag: "Remb", nowMs: 5100, bitrateBps: 9_000_000 })
    expect(estimator.estimate()).toMatchObject({ bitrateBps: uncapped.bitrateBps, source: "transport-cc" })
  })

  it("falls back on receiver reports: grows while loss is low, holds on moderate loss, backs off on heavy loss", () => {
    const estimator = new BandwidthEstimator()
    estimator.setDesiredBitrate(3_000_000)
    let nowMs = 0
    const report = (fractionLost: number, count: number) => {
      for (let i = 0; i < count; i++) {
        nowMs += 1000
        estimator.onFeedback(receiverReport(nowMs, fractionLost, 80))
      }
      return estimator.estimate()
    }
    expect(report(0, 1)).toMatchObject({ source: "receiver-report" })
    const grown = report(0.01, 5).bitrateBps
    expect(grown).toBeGreaterThan(1_300_000)
    expect(report(0.05, 5).bitrateBps).toBe(grown)
    expect(report(0.01, 30).bitrateBps).toBe(3_000_000)
    expect(report(0.3, 5).bitrateBps).toBeLessThan(0.5 * 3_000_000)
  })

  it("ignores receiver-report loss once transport-cc reports every packet", () => {
    const estimator = new BandwidthEstimator({ startBps: 300_000 })
    runSession(estimator, {
      initial: { capacityBps: 2_000_000, lossRate: 0 },
      durationMs: 3000,
      demandBps: 4_000_000,
      seed: 2
    })
    const before = estimator.estimate()
    estimator.onFeedback(receiverReport(3000, 0.5, 40))
    expect(estimator.estimate()).toEqual(before)
  })
})

describe("bandwidth estimator and the desired bitrate", () => {
  it("does not grow past what the subscriber could use plus headroom, and stops probing once it gets there", () => {
    const estimator = new BandwidthEstimator({ startBps: 300_000 })
    const probesStartedAt: Array<{ readonly atMs: number; readonly probes: number }> = []
    const trace = runSession(estimator, {
      initial: { capacityBps: 5_000_000, lossRate: 0 },
      durationMs: 15_000,
      demandBps: 800_000,
      seed: 3,
      mangle: (packets) => {
        const last = packets[packets.length - 1]
        if (last) probesStartedAt.push({ atMs: last.sendTimeMs, probes: estimator.counters().probesStarted })
        return packets
      }
    })
    for (const sample of trace.samples) expect(sample.estimateBps).toBeLessThanOrEqual(1.25 * 800_000)
    expect(
      Math.min(...trace.between(3000, 15_000).map((sample) => sample.estimateBps))
    ).toBeGreaterThanOrEqual(0.9 * 800_000)
    const settled = probesStartedAt.filter((entry) => entry.atMs >= 5000).map((entry) => entry.probes)
    expect(settled[0]).toBeGreaterThan(0)
    expect(new Set(settled).size).toBe(1)
  })

  it("never probes when nothing more is wanted", () => {
    const estimator = new BandwidthEstimator({ startBps: 300_000 })
    runSession(estimator, {
      initial: { capacityBps: 5_000_000, lossRate: 0 },
      durationMs: 5000,
      demandBps: 250_000,
      seed: 3
    })
    expect(estimator.counters().probesStarted).toBe(0)
  })
})

describe("bandwidth estimator input hygiene", () => {
  it("rejects a configuration that cannot hold", () => {
    expect(() => new BandwidthEstimator({ minBps: 2_000_000, maxBps: 1_000_000 })).toThrow(RangeError)
    expect(() => new BandwidthEstimator({ startBps: Number.NaN })).toThrow(RangeError)
    expect(() => new BandwidthEstimator({ minBps: 0 })).toThrow(RangeError)
  })

  const anyNumber = fc.oneof(
    fc.double(),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1, 0, 1e15),
    fc.integer({ min: -1000, max: 100_000 })
  )
  const packet: fc.Arbitrary<PacketResult> = fc.record({
    sendTimeMs: anyNumber,
    sizeBytes: anyNumber,
    arrivalTimeMs: fc.option(anyNumber, { nil: undefined }),
    probe: fc.boolean()
  })
  const step = fc.oneof(
    fc.record({
      _tag: fc.constant("TransportFeedback" as const),
      nowMs: anyNumber,
      packets: fc.array(packet, { maxLength: 40 })
    }),
    fc.record({ _tag: fc.constant("Remb" as const), nowMs: anyNumber, bitrateBps: anyNumber }),
    fc.record({
      _tag: fc.constant("ReceiverReport" as const),
      nowMs: anyNumber,
      fractionLost: anyNumber,
      rttMs: fc.option(anyNumber, { nil: undefined })
    }),
    fc.record({ _tag: fc.constant("Tick" as const), nowMs: anyNumber }),
    fc.record({ _tag: fc.constant("Desired" as const), bps: fc.option(anyNumber, { nil: undefined }) })
  )

  it("never throws and always reports a finite, bounded estimate, whatever the feedback says", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const estimator = new BandwidthEstimator()
        for (const input of steps) {
          if (input._tag === "Tick") {
            const bytes = estimator.tick(input.nowMs)
            expect(Number.isInteger(bytes) && bytes >= 0).toBe(true)
          } else if (input._tag === "Desired") {
            estimator.setDesiredBitrate(input.bps)
          } else {
            estimator.onFeedback(input)
          }
          const { bitrateBps } = estimator.estimate()
          expect(Number.isFinite(bitrateBps)).toBe(true)
          expect(bitrateBps).toBeGreaterThanOrEqual(50_000)
          expect(bitrateBps).toBeLessThanOrEqual(10_000_000)
        }
      }),
      { seed: 21, numRuns: 400 }
    )
  })

  it("counts what it rejects", () => {
    const estimator = new BandwidthEstimator()
    estimator.onFeedback({ _tag: "Remb", nowMs: Number.NaN, bitrateBps: 1 })
    estimator.onFeedback({ _tag: "ReceiverReport", nowMs: 0, fractionLost: 2, rttMs: 10 })
    estimator.onFeedback({
      _tag: "TransportFeedback",
      nowMs: 100,
      packets: [
        { sendTimeMs: 10, sizeBytes: -5, arrivalTimeMs: 20, probe: false },
        { sendTimeMs: Number.NaN, sizeBytes: 1200, arrivalTimeMs: 20, probe: false },
        { sendTimeMs: 50, sizeBytes: 1200, arrivalTimeMs: Number.POSITIVE_INFINITY, probe: false },
        { sendTimeMs: 60, sizeBytes: 1200, arrivalTimeMs: 70, probe: false }
      ]
    })
    estimator.onFeedback({
      _tag: "TransportFeedback",
      nowMs: 150,
      packets: [{ sendTimeMs: 40, sizeBytes: 1200, arrivalTimeMs: 55, probe: false }]
    })
    expect(estimator.counters()).toMatchObject({ rejectedFeedbacks: 2, rejectedPackets: 3, stalePackets: 1 })
    expect(estimator.estimate().source).toBe("transport-cc")
  })
})

describe("bandwidth estimator round trip", () => {
  it("reports the round trip only once a receiver report measured one, and ignores absurd ones", () => {
    const estimator = new BandwidthEstimator()
    expect(estimator.roundTripMs()).toBeUndefined()
    estimator.onFeedback({ _tag: "ReceiverReport", nowMs: 0, fractionLost: 0, rttMs: undefined })
    expect(estimator.roundTripMs()).toBeUndefined()
    estimator.onFeedback({ _tag: "ReceiverReport", nowMs: 1000, fractionLost: 0, rttMs: 42 })
    expect(estimator.roundTripMs()).toBe(42)
    estimator.onFeedback({ _tag: "ReceiverReport", nowMs: 2000, fractionLost: 0, rttMs: Number.NaN })
    estimator.onFeedback({ _tag: "ReceiverReport", nowMs: 3000, fractionLost: 0, rttMs: 1e9 })
    expect(estimator.roundTripMs()).toBe(42)
  })
})
