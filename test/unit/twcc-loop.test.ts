import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { TransportSendHistory } from "../../src/media/transport-send-history.ts"
import {
  parseTransportFeedback,
  serializeTransportFeedback,
  type TransportFeedback
} from "../../src/media/twcc-feedback.ts"
import { TwccReceiveReport } from "../../src/media/twcc-receive-report.ts"
import type { PacketResult } from "../../src/transport/transport.ts"

/**
 * The two ends of transport-wide congestion control against each other: what the receiver
 * records becomes bytes on the wire, and the sender's history turns them back into results.
 */

interface Sent {
  readonly sequenceNumber: number
  readonly sendTimeMs: number
  readonly sizeBytes: number
  readonly probe: boolean
  /** Receiver clock, undefined when the network lost it. */
  readonly arrivalMs: number | undefined
}

const packetArb = fc.record({
  gapMs: fc.oneof(
    { weight: 20, arbitrary: fc.double({ min: 0.01, max: 30, noNaN: true }) },
    { weight: 1, arbitrary: fc.double({ min: 8000, max: 20000, noNaN: true }) }
  ),
  delayMs: fc.double({ min: 5, max: 80, noNaN: true }),
  lost: fc.boolean(),
  sizeBytes: fc.integer({ min: 20, max: 1300 }),
  probe: fc.boolean()
})

const scenarioArb = fc.record({
  packets: fc.array(packetArb, { minLength: 1, maxLength: 600 }),
  lossEvery: fc.integer({ min: 1, max: 8 }),
  skipNumbers: fc.integer({ min: 0, max: 0xffff }),
  receiverEpochMs: fc.double({ min: -1e12, max: 2e12, noNaN: true }),
  flushEvery: fc.integer({ min: 1, max: 200 }),
  maxPacketBytes: fc.integer({ min: 60, max: 1200 })
})

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never

const run = (scenario: Scenario) => {
  const history = new TransportSendHistory({ capacity: 8192, maxAgeMs: 1e9 })
  for (let i = 0; i < scenario.skipNumbers; i++) history.next()
  const report = new TwccReceiveReport({ maxPacketBytes: scenario.maxPacketBytes })
  const sent: Sent[] = []
  let clock = 1_000_000
  scenario.packets.forEach((p, i) => {
    clock += p.gapMs
    const sequenceNumber = history.next()
    history.sent(sequenceNumber, clock, p.sizeBytes, p.probe)
    const lost = p.lost && i % scenario.lossEvery === 0
    sent.push({
      sequenceNumber,
      sendTimeMs: clock,
      sizeBytes: p.sizeBytes,
      probe: p.probe,
      arrivalMs: lost ? undefined : clock + p.delayMs + scenario.receiverEpochMs
    })
  })
  const arrivals = sent.filter((s) => s.arrivalMs !== undefined).sort((a, b) => a.arrivalMs! - b.arrivalMs!)
  const wire: Uint8Array[] = []
  const feedbacks: TransportFeedback[] = []
  const results: PacketResult[] = []
  const deliver = (batch: TransportFeedback[]) => {
    for (const feedback of batch) {
      const bytes = serializeTransportFeedback(feedback)
      wire.push(bytes)
      const parsed = parseTransportFeedback(bytes)
      if (!parsed.ok) throw new Error(parsed.reason)
      feedbacks.push(parsed.feedback)
      results.push(...history.results(parsed.feedback, clock))
    }
  }
  arrivals.forEach((packet, i) => {
    const due = report.record(packet.sequenceNumber, 0x1234, packet.arrivalMs!)
    if (due || i % scenario.flushEvery === 0) deliver(report.flush(42))
  })
  deliver(report.flush(42))
  return { sent, wire, feedbacks, results }
}

describe("transport-wide feedback, receiver to sender", () => {
  it("reports every arrival once, on the sender's history, with the receiver's timing", () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { sent, wire, feedbacks, results } = run(scenario)
        for (const bytes of wire) expect(bytes.length).toBeLessThanOrEqual(scenario.maxPacketBytes)
        // Feedback counts go up by one, wrapping at 8 bits.
        feedbacks.forEach((f, i) => {
          expect(f.feedbackCount).toBe(i & 0xff)
          expect(f.mediaSsrc).toBe(0x1234)
          expect(f.senderSsrc).toBe(42)
        })
        const bySendTime = new Map(sent.map((s) => [s.sendTimeMs, s]))
        const received = results.filter((r) => r.arrivalTimeMs !== undefined)
        // Every packet that arrived is reported received exactly once.
        expect(received.length).toBe(sent.filter((s) => s.arrivalMs !== undefined).length)
        expect(new Set(received.map((r) => r.sendTimeMs)).size).toBe(received.length)
        // Lost packets are never reported received; reported ones keep their size and kind.
        let offset: number | undefined
        for (const result of results) {
          const packet = bySendTime.get(result.sendTimeMs)!
          expect(result.sizeBytes).toBe(packet.sizeBytes)
          expect(result.probe).toBe(packet.probe)
          if (result.arrivalTimeMs === undefined) continue
          expect(packet.arrivalMs).toBeDefined()
          // One constant offset between the receiver's clock and the reported timeline,
          // within the 250 µs resolution.
          const difference = result.arrivalTimeMs - packet.arrivalMs!
          offset ??= difference
          expect(Math.abs(difference - offset)).toBeLessThanOrEqual(0.25 + 1e-6)
        }
        // A packet lost on the network between two that arrived is reported lost, once.
        const arrivedSendTimes = sent.filter((s) => s.arrivalMs !== undefined).map((s) => s.sendTimeMs)
        const firstArrived = Math.min(...arrivedSendTimes)
        const lastArrived = Math.max(...arrivedSendTimes)
        for (const packet of sent) {
          if (
            packet.arrivalMs !== undefined ||
            packet.sendTimeMs > lastArrived ||
            packet.sendTimeMs < firstArrived
          )
            continue
          const reports = results.filter((r) => r.sendTimeMs === packet.sendTimeMs)
          expect(reports).toEqual([
            {
              sendTimeMs: packet.sendTimeMs,
              sizeBytes: packet.sizeBytes,
              arrivalTimeMs: undefined,
              probe: packet.probe
            }
          ])
        }
      }),
      { seed: 3, numRuns: 150 }
    )
  })
})

describe("TransportSendHistory", () => {
  const feedback = (
    base: number,
    deltas: Array<number | undefined>,
    referenceTime = 0
  ): TransportFeedback => ({
    senderSsrc: 1,
    mediaSsrc: 2,
    baseSequenceNumber: base,
    referenceTime,
    feedbackCount: 0,
    deltas
  })

  it("numbers packets with one 16-bit counter that wraps", () => {
    const history = new TransportSendHistory()
    const numbers = Array.from({ length: 70000 }, () => history.next())
    expect(numbers[0]).toBe(0)
    expect(numbers[65535]).toBe(65535)
    expect(numbers[65536]).toBe(0)
  })

  it("ignores numbers never sent, expired or overwritten, and duplicates", () => {
    const history = new TransportSendHistory({ capacity: 16, maxAgeMs: 1000 })
    const a = history.next()
    history.sent(a, 0, 100, false)
    const b = history.next() // never sent
    const c = history.next()
    history.sent(c, 900, 100, false)
    const results = history.results(feedback(a, [4, 4, 4]), 1500)
    expect(results.map((r) => r.sendTimeMs)).toEqual([900]) // a expired, b unknown
    expect(history.results(feedback(c, [8]), 1500)).toEqual([]) // already received
    expect(history.ignored).toBe(3)
    for (let i = 0; i < 20; i++) history.sent(history.next(), 1000, 1, false)
    expect(history.results(feedback(c, [1]), 1500)).toEqual([]) // overwritten
    expect(b).toBe(a + 1)
  })

  it("lets a packet reported lost be reported received later, once", () => {
    const history = new TransportSendHistory()
    const a = history.next()
    history.sent(a, 10, 100, true)
    expect(history.results(feedback(a, [undefined]), 20)[0]?.arrivalTimeMs).toBeUndefined()
    expect(history.results(feedback(a, [undefined]), 20)).toEqual([])
    expect(history.results(feedback(a, [8]), 20)).toEqual([
      { sendTimeMs: 10, sizeBytes: 100, arrivalTimeMs: 2, probe: true }
    ])
    expect(history.results(feedback(a, [8]), 20)).toEqual([])
  })

  it("unwraps the 24-bit reference time into one timeline", () => {
    const history = new TransportSendHistory()
    const numbers = [history.next(), history.next()]
    for (const n of numbers) history.sent(n, 0, 1, false)
    const first = history.results(feedback(numbers[0]!, [0], 0x7fffff), 0)
    const second = history.results(feedback(numbers[1]!, [0], -0x800000), 0)
    expect(second[0]!.arrivalTimeMs! - first[0]!.arrivalTimeMs!).toBe(64)
  })
})

describe("TwccReceiveReport", () => {
  it("asks for early feedback once enough packets are pending", () => {
    const report = new TwccReceiveReport({ earlyPackets: 10 })
    const due = Array.from({ length: 10 }, (_, i) => report.record(i, 1, i))
    expect(due.slice(0, 9).every((d) => !d)).toBe(true)
    expect(due[9]).toBe(true)
    expect(report.flush(1)).toHaveLength(1)
    expect(report.pending).toBe(0)
    expect(report.flush(1)).toEqual([])
  })

  it("covers gaps as not received and counts duplicates", () => {
    const report = new TwccReceiveReport()
    report.record(65534, 1, 100)
    report.record(1, 1, 101)
    report.record(1, 1, 102)
    const [feedback] = report.flush(9)
    expect(feedback!.baseSequenceNumber).toBe(65534)
    expect(feedback!.deltas.map((d) => d !== undefined)).toEqual([true, false, false, true])
    expect(report.discarded).toBe(1)
  })

  it("reopens a reported range for a late packet", () => {
    const report = new TwccReceiveReport()
    report.record(10, 1, 100)
    report.record(12, 1, 101)
    report.flush(9)
    report.record(11, 1, 103)
    const [feedback] = report.flush(9)
    expect(feedback!.baseSequenceNumber).toBe(11)
    expect(feedback!.deltas.every((d) => d !== undefined)).toBe(true)
    expect(feedback!.deltas).toHaveLength(2)
  })
})
