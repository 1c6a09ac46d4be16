import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type ProbeConditions, ProbeController, type ProbeOutcome } from "../../src/media/probe-controller.ts"
import type { PacketResult } from "../../src/transport/transport.ts"

const clear = (estimateBps: number, ceilingBps: number | undefined): ProbeConditions => ({
  estimateBps,
  mediaBps: estimateBps,
  ceilingBps,
  linkClear: true
})

interface Sent {
  readonly sendTimeMs: number
  readonly sizeBytes: number
  readonly probe: boolean
}

/**
 * Ticks every `tickMs` until the probe under way has sent all its padding, with media flowing
 * at `conditions.mediaBps` alongside; returns what went out.
 */
const sendProbe = (
  controller: ProbeController,
  startMs: number,
  conditions: ProbeConditions,
  tickMs = 10
) => {
  const sent: Array<Sent> = []
  let nowMs = startMs
  let mediaCredit = 0
  for (; nowMs < startMs + 1000; nowMs += tickMs) {
    for (mediaCredit += (conditions.mediaBps * tickMs) / 8000; mediaCredit >= 1200; mediaCredit -= 1200) {
      sent.push({ sendTimeMs: nowMs, sizeBytes: 1200, probe: false })
    }
    const bytes = controller.tick(nowMs, conditions)
    for (let left = bytes; left > 0; left -= 1200) {
      sent.push({ sendTimeMs: nowMs, sizeBytes: Math.min(left, 1200), probe: true })
    }
    if (nowMs > startMs && bytes === 0) break
  }
  return { sent, endMs: nowMs }
}

/** Passes packets through a FIFO bottleneck and reports them, plus one later media packet. */
const report = (
  controller: ProbeController,
  sent: ReadonlyArray<Sent>,
  capacityBps: number,
  nowMs: number
) => {
  let freeAtMs = 0
  const packets: Array<PacketResult> = [
    ...sent,
    { sendTimeMs: nowMs - 30, sizeBytes: 1200, probe: false }
  ].map((packet) => {
    freeAtMs = Math.max(freeAtMs, packet.sendTimeMs) + (packet.sizeBytes * 8000) / capacityBps
    return { ...packet, arrivalTimeMs: 7e6 + freeAtMs + 20 }
  })
  for (const packet of packets) controller.onPacket(packet)
  return controller.onFeedbackEnd(nowMs)
}

describe("probe controller", () => {
  it("does not probe when the link is not clear, nothing more is wanted, or the estimate already covers it", () => {
    const controller = new ProbeController()
    for (let nowMs = 0; nowMs < 3000; nowMs += 10) {
      expect(controller.tick(nowMs, { ...clear(1_000_000, 3_000_000), linkClear: false })).toBe(0)
      expect(controller.tick(nowMs, clear(1_000_000, undefined))).toBe(0)
      expect(controller.tick(nowMs, clear(1_000_000, 1_000_000))).toBe(0)
    }
    expect(controller.probesStarted).toBe(0)
  })

  it("pads up to its target for a short burst, never ahead of schedule, at most twice the estimate", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100_000, max: 5_000_000 }),
        fc.double({ min: 0, max: 1.5, noNaN: true }),
        fc.double({ min: 1.001, max: 5, noNaN: true }),
        fc.integer({ min: 1, max: 40 }),
        (estimateBps, mediaShare, ceilingRatio, tickMs) => {
          const controller = new ProbeController()
          const conditions = {
            ...clear(estimateBps, estimateBps * ceilingRatio),
            mediaBps: estimateBps * mediaShare
          }
          let total = 0
          let firstMs: number | undefined
          for (let nowMs = 0; nowMs < 2000; nowMs += tickMs) {
            const bytes = controller.tick(nowMs, conditions)
            if (bytes > 0) firstMs ??= nowMs
            total += bytes
            const targetBps = Math.min(
              2 * estimateBps,
              Math.max(1.2 * estimateBps, 1.25 * estimateBps * ceilingRatio)
            )
            // Padding alone never exceeds the target rate, plus the first 10 ms slice.
            if (firstMs !== undefined) {
              expect(total).toBeLessThanOrEqual((targetBps * (nowMs - firstMs + 10)) / 8000 + 1)
            }
          }
          expect(controller.probesStarted).toBe(1)
          expect(total).toBeGreaterThan(0)
          // About ten 1200-byte packets' worth of probe, media included, or 60–400 ms of it.
          expect(total).toBeLessThanOrEqual((2 * estimateBps * 0.4) / 8 + 1)
        }
      ),
      { seed: 31, numRuns: 200 }
    )
  })

  it("follows a probe the link delivered in full with a bigger one at once", () => {
    const controller = new ProbeController()
    const { sent, endMs } = sendProbe(controller, 0, clear(500_000, 10_000_000))
    const outcome = report(controller, sent, 50_000_000, endMs + 100) as ProbeOutcome
    expect(outcome.succeeded).toBe(true)
    expect(outcome.measurement?.saturated).toBe(false)
    expect(outcome.measurement?.estimateBps).toBeGreaterThan(0.7 * 1_000_000)
    expect(outcome.measurement?.estimateBps).toBeLessThanOrEqual(1_000_000)
    const next = sendProbe(controller, endMs + 100, clear(1_000_000, 10_000_000))
    expect(next.sent.filter((sent) => sent.probe).length).toBeGreaterThan(0)
    expect(controller.probesStarted).toBe(2)
  })

  it("reads a probe that filled the link as the link's capacity, and backs off", () => {
    const controller = new ProbeController()
    const { sent, endMs } = sendProbe(controller, 0, clear(1_000_000, 10_000_000))
    const outcome = report(controller, sent, 1_200_000, endMs + 200) as ProbeOutcome
    expect(outcome.succeeded).toBe(false)
    expect(outcome.measurement?.saturated).toBe(true)
    expect(outcome.measurement?.receiveBps).toBeGreaterThan(0.95 * 1_200_000)
    expect(outcome.measurement?.receiveBps).toBeLessThanOrEqual(1_200_000 * 1.001)
    const padding = sendProbe(controller, endMs + 300, clear(1_000_000, 10_000_000)).sent.filter(
      (sent) => sent.probe
    )
    expect(padding).toHaveLength(0)
  })

  it("doubles its wait after each probe that says nothing, up to 5 s", () => {
    const controller = new ProbeController()
    const starts: Array<number> = []
    let probing = false
    for (let nowMs = 0; nowMs < 40_000; nowMs += 10) {
      const bytes = controller.tick(nowMs, clear(1_000_000, 3_000_000))
      if (controller.probing && !probing) starts.push(nowMs)
      probing = controller.probing
      expect(Number.isInteger(bytes)).toBe(true)
    }
    const gaps = starts.slice(1).map((start, i) => start - starts[i]!)
    // Each gap: the burst, the 1.5 s wait for feedback that never comes, then the back-off.
    const backoffs = gaps.map((gap) => Math.round((gap - 1560) / 100) * 100)
    expect(backoffs.slice(0, 5)).toEqual([1000, 2000, 4000, 5000, 5000])
    expect(controller.probesFailed).toBeGreaterThanOrEqual(starts.length - 1)
  })
})
