import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { NackGenerator, type NackGeneratorOptions } from "../../src/media/nack-generator.ts"
import { seqAdd } from "../../src/media/sequence-number.ts"

const defaults: NackGeneratorOptions = {
  maxTrackedMissing: 256,
  maxRetries: 3,
  retryIntervalMs: 100,
  maxAgeMs: 1000,
  maxNacksPerPoll: 64
}

const make = (overrides: Partial<NackGeneratorOptions> = {}) =>
  new NackGenerator({ ...defaults, ...overrides })

describe("NackGenerator", () => {
  it("requests a gap, then retries at the interval up to maxRetries", () => {
    const g = make()
    g.onPacket(1, 0)
    g.onPacket(2, 10)
    g.onPacket(5, 20)
    expect(g.missingCount).toBe(2)
    expect(g.poll(20)).toEqual([3, 4])
    expect(g.poll(40)).toEqual([])
    expect(g.poll(119)).toEqual([])
    expect(g.poll(120)).toEqual([3, 4])
    expect(g.poll(220)).toEqual([3, 4])
    expect(g.poll(320)).toEqual([])
    expect(g.totalRequested).toBe(6)
    expect(g.missingCount).toBe(0)
  })

  it("stops requesting a seq once it arrives", () => {
    const g = make()
    g.onPacket(10, 0)
    g.onPacket(14, 0)
    expect(g.poll(0)).toEqual([11, 12, 13])
    g.onPacket(12, 50)
    expect(g.missingCount).toBe(2)
    expect(g.poll(100)).toEqual([11, 13])
  })

  it("ignores duplicates", () => {
    const g = make()
    g.onPacket(10, 0)
    g.onPacket(10, 0)
    g.onPacket(11, 0)
    g.onPacket(10, 0)
    expect(g.missingCount).toBe(0)
    expect(g.poll(0)).toEqual([])
  })

  it("handles wraparound", () => {
    const g = make()
    g.onPacket(65533, 0)
    g.onPacket(65534, 0)
    g.onPacket(2, 0)
    expect(g.poll(0)).toEqual([65535, 0, 1])
    g.onPacket(0, 5)
    expect(g.poll(200)).toEqual([65535, 1])
  })

  it("gives up after maxAgeMs", () => {
    const g = make({ maxRetries: 100, retryIntervalMs: 100, maxAgeMs: 250 })
    g.onPacket(1, 0)
    g.onPacket(3, 0)
    expect(g.poll(0)).toEqual([2])
    expect(g.poll(100)).toEqual([2])
    expect(g.poll(200)).toEqual([2])
    expect(g.poll(300)).toEqual([])
    expect(g.missingCount).toBe(0)
  })

  it("uses the RTT as the retry interval when it is larger", () => {
    const g = make()
    g.setRttMs(300)
    g.onPacket(1, 0)
    g.onPacket(3, 0)
    expect(g.poll(0)).toEqual([2])
    expect(g.poll(150)).toEqual([])
    expect(g.poll(300)).toEqual([2])
    g.setRttMs(10)
    expect(g.poll(400)).toEqual([2])
  })

  it("caps the number of seqs per poll, oldest first", () => {
    const g = make({ maxNacksPerPoll: 4 })
    g.onPacket(0, 0)
    g.onPacket(11, 0)
    expect(g.poll(0)).toEqual([1, 2, 3, 4])
    expect(g.poll(0)).toEqual([5, 6, 7, 8])
    expect(g.poll(0)).toEqual([9, 10])
    expect(g.poll(0)).toEqual([])
  })

  it("resets instead of flooding on a forward jump larger than it tracks", () => {
    const g = make({ maxTrackedMissing: 50 })
    g.onPacket(100, 0)
    g.onPacket(105, 0)
    g.onPacket(5000, 10)
    expect(g.missingCount).toBe(0)
    expect(g.poll(10)).toEqual([])
    g.onPacket(5002, 20)
    expect(g.poll(20)).toEqual([5001])
  })

  it("treats a large backward jump as a restarted stream", () => {
    const g = make()
    g.onPacket(30000, 0)
    g.onPacket(30001, 0)
    g.onPacket(10, 10)
    g.onPacket(12, 20)
    expect(g.poll(20)).toEqual([11])
  })

  it("forgets the oldest missing seqs beyond maxTrackedMissing", () => {
    const g = make({ maxTrackedMissing: 10, maxNacksPerPoll: 100 })
    g.onPacket(0, 0)
    g.onPacket(8, 0) // 1..7 missing
    g.onPacket(16, 0) // 9..15 missing, 14 in total: keep the newest 10
    expect(g.missingCount).toBe(10)
    expect(g.poll(0)).toEqual([5, 6, 7, 9, 10, 11, 12, 13, 14, 15])
  })

  const lossScenario = fc.record({
    start: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 65400, max: 0xffff })),
    packets: fc.array(
      fc.record({
        lost: fc.oneof(fc.constant(false), fc.constant(false), fc.boolean()),
        // Delay of the retransmission (or late copy) of a lost packet, if any.
        recoveryMs: fc.option(fc.integer({ min: 1, max: 600 }), { nil: undefined })
      }),
      { minLength: 2, maxLength: 400 }
    ),
    options: fc.record({
      maxTrackedMissing: fc.integer({ min: 1, max: 300 }),
      maxRetries: fc.integer({ min: 1, max: 5 }),
      retryIntervalMs: fc.integer({ min: 1, max: 200 }),
      maxAgeMs: fc.integer({ min: 1, max: 1500 }),
      maxNacksPerPoll: fc.integer({ min: 1, max: 80 })
    })
  })

  it("under any loss pattern: bounded requests, never for arrived seqs, respecting retry/age/cap limits", () => {
    fc.assert(
      fc.property(lossScenario, ({ start, packets, options }) => {
        const g = new NackGenerator(options)
        const sendInterval = 10
        // Arrival events: original deliveries and late recoveries of lost packets.
        const arrivals: Array<{ at: number; index: number }> = []
        packets.forEach((p, i) => {
          if (!p.lost || i === 0) arrivals.push({ at: i * sendInterval, index: i })
          else if (p.recoveryMs !== undefined)
            arrivals.push({ at: i * sendInterval + p.recoveryMs, index: i })
        })
        arrivals.sort((a, b) => a.at - b.at || a.index - b.index)
        const lostCount = packets.filter((p, i) => p.lost && i > 0).length
        const end = packets.length * sendInterval + 2000
        const arrived = new Set<number>()
        const requests = new Map<number, number[]>()
        // When each missing packet's loss became observable: the arrival of a later packet.
        const detectedAt = new Map<number, number>()
        let highestArrived = -1
        let total = 0
        let next = 0
        for (let now = 0; now <= end; now += 20) {
          while (next < arrivals.length && arrivals[next]!.at <= now) {
            const { index, at } = arrivals[next++]!
            arrived.add(index)
            for (let k = highestArrived + 1; k < index; k++) if (!arrived.has(k)) detectedAt.set(k, at)
            highestArrived = Math.max(highestArrived, index)
            g.onPacket(seqAdd(start, index), at)
          }
          const nacked = g.poll(now)
          expect(nacked.length).toBeLessThanOrEqual(options.maxNacksPerPoll)
          expect(new Set(nacked).size).toBe(nacked.length)
          for (const seq of nacked) {
            const index = (seq - start) & 0xffff
            expect(index).toBeLessThan(packets.length)
            expect(arrived.has(index)).toBe(false)
            const times = requests.get(index) ?? []
            const previous = times.at(-1)
            if (previous !== undefined) expect(now - previous).toBeGreaterThanOrEqual(options.retryIntervalMs)
            expect(now - detectedAt.get(index)!).toBeLessThanOrEqual(options.maxAgeMs)
            times.push(now)
            requests.set(index, times)
          }
          total += nacked.length
          expect(g.missingCount).toBeLessThanOrEqual(options.maxTrackedMissing)
        }
        for (const times of requests.values()) expect(times.length).toBeLessThanOrEqual(options.maxRetries)
        expect(total).toBeLessThanOrEqual(lostCount * options.maxRetries)
        expect(g.totalRequested).toBe(total)
      }),
      { seed: 42, numRuns: 200 }
    )
  })

  it("with moderate loss, every unrecovered lost packet is requested exactly maxRetries times", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.array(fc.boolean(), { minLength: 2, maxLength: 300 }),
        (start, lossPattern) => {
          // At most 3 losses in a row and the last packet arrives, so every loss is detected and tracked.
          const lost = lossPattern.map(
            (l, i) => l && i > 0 && i < lossPattern.length - 1 && !lossPattern[i - 3]
          )
          const g = make()
          const requests = new Map<number, number>()
          for (let now = 0, i = 0; now <= lost.length * 10 + 2000; now += 10, i++) {
            if (i < lost.length && !lost[i]) g.onPacket(seqAdd(start, i), now)
            for (const seq of g.poll(now)) requests.set(seq, (requests.get(seq) ?? 0) + 1)
          }
          const expected = new Map<number, number>()
          lost.forEach((l, i) => {
            if (l) expected.set(seqAdd(start, i), defaults.maxRetries)
          })
          expect(requests).toEqual(expected)
          expect(g.missingCount).toBe(0)
        }
      ),
      { seed: 42, numRuns: 200 }
    )
  })
})
