import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { BandwidthEstimator } from "../../src/media/bandwidth-estimator.ts"
import type { PacketResult } from "../../src/transport/transport.ts"
import { runSession, type Sample, seededRandom } from "../support/bottleneck-link.ts"

const MIN_BPS = 50_000
const MAX_BPS = 10_000_000

const estimates = (samples: ReadonlyArray<Sample>) => samples.map((sample) => sample.estimateBps)
const median = (values: ReadonlyArray<number>) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const expectWithinBounds = (samples: ReadonlyArray<Sample>) => {
  for (const sample of samples) {
    expect(Number.isFinite(sample.estimateBps)).toBe(true)
    expect(sample.estimateBps).toBeGreaterThanOrEqual(MIN_BPS)
    expect(sample.estimateBps).toBeLessThanOrEqual(MAX_BPS)
  }
}

describe("bandwidth estimator over a bottleneck link", () => {
  it("converges from 300 kbit/s to within ±25 % of the link's capacity in 3 s, and stays there", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 500_000, max: 8_000_000 }),
        fc.integer({ min: 5, max: 60 }),
        fc.integer({ min: 5, max: 25 }),
        fc.integer({ min: 25, max: 100 }),
        fc.double({ min: 0, max: 0.01, noNaN: true }),
        (seed, capacityBps, propagationMs, tickIntervalMs, feedbackIntervalMs, lossRate) => {
          const estimator = new BandwidthEstimator({ startBps: 300_000 })
          const trace = runSession(estimator, {
            initial: { capacityBps, lossRate },
            durationMs: 12_000,
            demandBps: 2 * capacityBps,
            seed,
            propagationMs,
            tickIntervalMs,
            feedbackIntervalMs
          })
          for (const bps of estimates(trace.between(3000, 12_000))) {
            expect(bps).toBeGreaterThanOrEqual(0.75 * capacityBps)
            expect(bps).toBeLessThanOrEqual(1.25 * capacityBps)
          }
          expect(estimator.estimate().source).toBe("transport-cc")
        }
      ),
      { seed: 11, numRuns: 40 }
    )
  })

  it("reaches a 2.5 Mbit/s link from 300 kbit/s within 2 s by probing", () => {
    const estimator = new BandwidthEstimator({ startBps: 300_000 })
    const trace = runSession(estimator, {
      initial: { capacityBps: 2_500_000, lossRate: 0 },
      durationMs: 2000,
      demandBps: 5_000_000,
      seed: 1
    })
    expect(Math.max(...estimates(trace.samples))).toBeGreaterThanOrEqual(0.75 * 2_500_000)
    expect(estimator.counters().probesSucceeded).toBeGreaterThan(0)
  })

  it("falls below a reduced capacity within 2 s, drains the queue, and recovers when capacity returns", () => {
    for (const propagationMs of [10, 25, 50]) {
      const estimator = new BandwidthEstimator({ startBps: 300_000 })
      const trace = runSession(estimator, {
        initial: { capacityBps: 2_500_000, lossRate: 0 },
        durationMs: 32_000,
        demandBps: 5_000_000,
        seed: 1,
        propagationMs,
        events: [
          { atMs: 10_000, capacityBps: 400_000 },
          { atMs: 20_000, capacityBps: 2_500_000 }
        ]
      })
      expectWithinBounds(trace.samples)
      for (const bps of estimates(trace.between(8000, 10_000))) expect(bps).toBeGreaterThan(1_875_000)
      // Below the new capacity within 2 s; from then on it only probes a little above it.
      expect(Math.min(...estimates(trace.between(10_000, 12_000)))).toBeLessThan(400_000)
      expect(median(estimates(trace.between(12_000, 20_000)))).toBeLessThan(400_000)
      expect(Math.max(...estimates(trace.between(12_000, 20_000)))).toBeLessThan(1.15 * 400_000)
      // The queue that built while the estimate was too high empties and stays short.
      expect(trace.between(10_000, 12_500).some((sample) => sample.queueDelayMs < 5)).toBe(true)
      expect(median(trace.between(12_000, 20_000).map((sample) => sample.queueDelayMs))).toBeLessThan(10)
      // ≥ 70 % of the restored capacity within 10 s, and kept.
      const recoveredAt = trace.between(20_000, 32_000).find((sample) => sample.estimateBps >= 1_750_000)
      expect(recoveredAt?.atMs).toBeLessThanOrEqual(30_000)
      for (const bps of estimates(trace.between(30_000, 32_000)))
        expect(bps).toBeGreaterThanOrEqual(1_750_000)
    }
  })

  it("climbs a simulcast ladder while sending only the rung it has, and stops where the link ends", () => {
    const ladderBps = [150_000, 500_000, 1_500_000]
    for (const [capacityBps, settledRungBps] of [
      [2_500_000, 1_500_000],
      [1_200_000, 500_000],
      [400_000, 150_000]
    ] as const) {
      const estimator = new BandwidthEstimator({ startBps: 300_000 })
      const trace = runSession(estimator, {
        initial: { capacityBps, lossRate: 0 },
        durationMs: 20_000,
        demandBps: 0,
        seed: 7,
        ladderBps
      })
      for (const sample of trace.between(4000, 20_000)) expect(sample.sendRateBps).toBe(settledRungBps)
      expect(median(trace.between(4000, 20_000).map((sample) => sample.queueDelayMs))).toBeLessThan(5)
    }
  })

  it("backs off on rising queueing delay alone, with no packet lost", () => {
    let lost = 0
    const estimator = new BandwidthEstimator({ startBps: 300_000 })
    const trace = runSession(estimator, {
      initial: { capacityBps: 2_000_000, lossRate: 0 },
      // A queue deep enough never to overflow: the only congestion signal is delay.
      queueMs: 60_000,
      durationMs: 24_000,
      demandBps: 4_000_000,
      seed: 4,
      events: [{ atMs: 8000, capacityBps: 600_000 }],
      mangle: (packets) => {
        lost += packets.filter((packet) => packet.arrivalTimeMs === undefined).length
        return packets
      }
    })
    expect(lost).toBe(0)
    expect(Math.min(...estimates(trace.between(8000, 10_000)))).toBeLessThan(600_000)
    for (const bps of estimates(trace.between(10_000, 14_000))) expect(bps).toBeLessThan(600_000)
    // A deep buffer drains slowly at 85 % of capacity, but it does drain.
    const peakQueueMs = Math.max(...trace.between(8000, 12_000).map((sample) => sample.queueDelayMs))
    expect(peakQueueMs).toBeGreaterThan(300)
    expect(Math.max(...trace.between(18_000, 24_000).map((sample) => sample.queueDelayMs))).toBeLessThan(100)
  })

  it("does not collapse under 5 % random loss on an ample link", () => {
    for (const seed of [3, 4]) {
      const estimator = new BandwidthEstimator({ startBps: 300_000 })
      const trace = runSession(estimator, {
        initial: { capacityBps: 2_500_000, lossRate: 0.05 },
        durationMs: 20_000,
        demandBps: 5_000_000,
        seed
      })
      for (const bps of estimates(trace.between(4000, 20_000))) expect(bps).toBeGreaterThanOrEqual(1_500_000)
    }
  })

  it("backs off under 20 % loss", () => {
    const estimator = new BandwidthEstimator({ startBps: 300_000 })
    const trace = runSession(estimator, {
      initial: { capacityBps: 2_500_000, lossRate: 0 },
      durationMs: 16_000,
      demandBps: 5_000_000,
      seed: 5,
      events: [{ atMs: 8000, lossRate: 0.2 }]
    })
    const before = median(estimates(trace.between(6000, 8000)))
    expect(before).toBeGreaterThan(1_800_000)
    for (const bps of estimates(trace.between(14_000, 16_000))) expect(bps).toBeLessThan(0.5 * before)
  })

  it("keeps its estimate through receiver clock jumps", () => {
    const estimator = new BandwidthEstimator({ startBps: 300_000 })
    const trace = runSession(estimator, {
      initial: { capacityBps: 2_500_000, lossRate: 0 },
      durationMs: 20_000,
      demandBps: 5_000_000,
      seed: 6,
      events: [
        { atMs: 8000, receiverClockJumpMs: -50_000 },
        { atMs: 12_000, receiverClockJumpMs: 3_600_000 }
      ]
    })
    expectWithinBounds(trace.samples)
    expect(estimator.counters().delayResets).toBeGreaterThanOrEqual(2)
    for (const bps of estimates(trace.between(8000, 20_000))) expect(bps).toBeGreaterThanOrEqual(1_500_000)
  })

  it("stays finite, bounded and useful when feedback entries are reordered and duplicated", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const random = seededRandom(seed)
        const mangle = (packets: ReadonlyArray<PacketResult>) => {
          const out: Array<PacketResult> = []
          for (const packet of packets) {
            out.push(packet)
            if (random() < 0.1) out.push(packet)
          }
          for (let i = out.length - 1; i > 0; i--) {
            if (random() < 0.3) {
              const j = Math.floor(random() * (i + 1))
              ;[out[i], out[j]] = [out[j]!, out[i]!]
            }
          }
          return out
        }
        const estimator = new BandwidthEstimator({ startBps: 300_000 })
        const trace = runSession(estimator, {
          initial: { capacityBps: 2_500_000, lossRate: 0.01 },
          durationMs: 10_000,
          demandBps: 5_000_000,
          seed,
          mangle
        })
        expectWithinBounds(trace.samples)
        expect(median(estimates(trace.between(4000, 10_000)))).toBeGreaterThanOrEqual(1_250_000)
      }),
      { seed: 12, numRuns: 8 }
    )
  })

  it("ignores lost entries for the delay signal: low loss with any send times leaves the estimate unchanged", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const random = seededRandom(seed)
        const withLost = new BandwidthEstimator({ startBps: 300_000 })
        const without = new BandwidthEstimator({ startBps: 300_000 })
        // A steady 800 kbit/s stream over a 1 Mbit/s path whose delay creeps up and down.
        let sendMs = 0
        let sinceLost = 0
        for (let feedbackAt = 100; feedbackAt <= 10_000; feedbackAt += 50) {
          const received: Array<PacketResult> = []
          const mixed: Array<PacketResult> = []
          for (; sendMs < feedbackAt - 60; sendMs += 12) {
            const queueMs = 20 + 15 * Math.sin(sendMs / 700)
            const packet = {
              sendTimeMs: sendMs,
              sizeBytes: 1200,
              arrivalTimeMs: 5e8 + sendMs + queueMs,
              probe: false
            }
            received.push(packet)
            mixed.push(packet)
            // Now and then a lost entry whose send time sits between two received ones,
            // never two within a loss window, so loss stays below what the loss-based side acts on.
            sinceLost++
            if (sinceLost > 25 && random() < 0.05) {
              sinceLost = 0
              mixed.push({
                sendTimeMs: sendMs + random() * 11,
                sizeBytes: 1200,
                arrivalTimeMs: undefined,
                probe: false
              })
            }
          }
          without.onFeedback({ _tag: "TransportFeedback", nowMs: feedbackAt, packets: received })
          withLost.onFeedback({ _tag: "TransportFeedback", nowMs: feedbackAt, packets: mixed })
          expect(withLost.estimate()).toEqual(without.estimate())
        }
      }),
      { seed: 13, numRuns: 20 }
    )
  })
})
