import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { RtpRewriter } from "../../src/media/rtp-rewriter.ts"
import { seqAdd, seqDiff, tsAdd, tsDiff } from "../../src/media/sequence-number.ts"

const params = { seed: 42, numRuns: 200 }
const CLOCK = 90_000

const make = (initialSequenceNumber = 1000, initialTimestamp = 5000) =>
  new RtpRewriter({ clockRate: CLOCK, initialSequenceNumber, initialTimestamp })

describe("RtpRewriter", () => {
  it("starts at the initial sequence number and timestamp", () => {
    const r = make(1000, 5000)
    expect(r.lastSequenceNumber).toBeUndefined()
    expect(r.lastTimestamp).toBeUndefined()
    expect(r.rewrite(40000, 123456, 0)).toEqual({ sequenceNumber: 1000, timestamp: 5000 })
    expect(r.rewrite(40001, 126456, 33)).toEqual({ sequenceNumber: 1001, timestamp: 8000 })
    expect(r.lastSequenceNumber).toBe(1001)
    expect(r.lastTimestamp).toBe(8000)
  })

  it("keeps upstream gaps and reordering within a source", () => {
    const r = make(1000, 5000)
    r.rewrite(10, 100, 0)
    expect(r.rewrite(13, 400, 10)?.sequenceNumber).toBe(1003)
    expect(r.rewrite(12, 300, 11)).toEqual({ sequenceNumber: 1002, timestamp: 5200 })
    expect(r.lastSequenceNumber).toBe(1003)
    expect(r.lastTimestamp).toBe(5300)
  })

  it("forwards duplicates with the same mapping", () => {
    const r = make()
    const first = r.rewrite(10, 100, 0)
    r.rewrite(11, 100, 1)
    expect(r.rewrite(10, 100, 2)).toEqual(first)
  })

  it("continues seq by one and advances timestamp by elapsed time on a switch", () => {
    const r = make(65535, 0xffffff00)
    r.rewrite(500, 9000, 1000)
    r.switchSource()
    // 20 ms later at 90 kHz is 1800 ticks.
    expect(r.rewrite(7, 42, 1020)).toEqual({ sequenceNumber: 0, timestamp: tsAdd(0xffffff00, 1800) })
    expect(r.rewrite(8, 42 + 3000, 1030)).toEqual({ sequenceNumber: 1, timestamp: tsAdd(0xffffff00, 4800) })
  })

  it("advances the timestamp by at least one tick even with no elapsed time", () => {
    const r = make(0, 0)
    r.rewrite(1, 1, 50)
    r.switchSource()
    expect(r.rewrite(9, 9, 50)).toEqual({ sequenceNumber: 1, timestamp: 1 })
    r.switchSource()
    expect(r.rewrite(30, 9, 10)).toEqual({ sequenceNumber: 2, timestamp: 2 })
  })

  it("drops packets from before the re-base point", () => {
    const r = make(0, 0)
    r.rewrite(100, 0, 0)
    r.switchSource()
    expect(r.rewrite(2, 0, 10)?.sequenceNumber).toBe(1)
    expect(r.rewrite(1, 0, 11)).toBeUndefined()
    expect(r.rewrite(65535, 0, 12)).toBeUndefined()
    expect(r.rewrite(3, 0, 13)?.sequenceNumber).toBe(2)
    // Re-binding the same source re-bases too; the old stream's earlier seqs are refused.
    r.switchSource()
    expect(r.rewrite(4, 0, 14)?.sequenceNumber).toBe(3)
    expect(r.rewrite(3, 0, 15)).toBeUndefined()
  })

  it("skip() removes the gap for an in-order dropped packet only", () => {
    const r = make(0, 0)
    r.rewrite(10, 0, 0)
    r.skip(11)
    r.skip(12)
    expect(r.rewrite(13, 0, 1)?.sequenceNumber).toBe(1)
    // Not the next expected seq (14 is): no effect, the gap stays.
    r.skip(15)
    // ...but 15 now counts as seen, so 16 is the next expected and can be skipped.
    r.skip(16)
    expect(r.rewrite(17, 0, 2)?.sequenceNumber).toBe(4)
    // Skipping something older than the highest seen seq does nothing.
    r.skip(14)
    expect(r.rewrite(18, 0, 3)?.sequenceNumber).toBe(5)
  })

  it("maps late packets from before a skip without colliding, and refuses the skipped seq", () => {
    const r = make(0, 0)
    r.rewrite(10, 0, 0) // -> 0
    r.rewrite(12, 0, 1) // -> 2, 11 missing
    r.skip(13)
    expect(r.rewrite(14, 0, 2)?.sequenceNumber).toBe(3)
    expect(r.rewrite(11, 0, 3)?.sequenceNumber).toBe(1)
    expect(r.rewrite(13, 0, 4)).toBeUndefined()
    expect(r.lastSequenceNumber).toBe(3)
  })

  it("ignores skip() before the first packet of a source", () => {
    const r = make(0, 0)
    r.skip(5)
    expect(r.rewrite(6, 0, 0)?.sequenceNumber).toBe(0)
    r.switchSource()
    r.skip(100)
    expect(r.rewrite(101, 0, 0)?.sequenceNumber).toBe(1)
  })

  it("stays consecutive over a long stream with many skips and wraparounds", () => {
    const r = make(65000, 0)
    let inSeq = 60000
    let expected = 65000
    for (let i = 0; i < 200_000; i++) {
      inSeq = seqAdd(inSeq, 1)
      if (i % 3 === 1) {
        r.skip(inSeq)
        continue
      }
      expect(r.rewrite(inSeq, i * 10, i)?.sequenceNumber).toBe(expected)
      expected = seqAdd(expected, 1)
    }
  })

  it("keeps the mapping within a source under any arrival order, dropping only pre-base packets", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.array(fc.integer({ min: -50, max: 300 }), { minLength: 1, maxLength: 100 }),
        (firstSeq, initial, offsets) => {
          const r = make(initial, 0)
          r.rewrite(firstSeq, 0, 0)
          for (const off of offsets) {
            const out = r.rewrite(seqAdd(firstSeq, off), 0, 1)
            if (off < 0) expect(out).toBeUndefined()
            else expect(out?.sequenceNumber).toBe(seqAdd(initial, off))
          }
        }
      ),
      params
    )
  })

  const seqArb = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 65520, max: 0xffff }))
  const tsArb = fc.oneof(
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.integer({ min: 0xffffffff - 20_000, max: 0xffffffff })
  )
  const packetArb = fc.record({
    lost: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 5 })),
    tsStep: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 6000 })),
    dtMs: fc.integer({ min: 0, max: 100 }),
    padding: fc.boolean()
  })
  const sourceArb = fc.record({
    startSeq: seqArb,
    startTs: tsArb,
    packets: fc.array(packetArb, { minLength: 1, maxLength: 40 })
  })

  it("produces one continuous stream across any number of switches", () => {
    fc.assert(
      fc.property(
        seqArb,
        tsArb,
        fc.array(sourceArb, { minLength: 1, maxLength: 8 }),
        (initSeq, initTs, sources) => {
          const r = new RtpRewriter({
            clockRate: CLOCK,
            initialSequenceNumber: initSeq,
            initialTimestamp: initTs
          })
          let now = 0
          // Model of the expected output.
          let lastOut: { seq: number; ts: number; now: number } | undefined
          for (const source of sources) {
            r.switchSource()
            let inSeq = source.startSeq
            let inTs = source.startTs
            let rebasing = true
            let prevIn = { seq: inSeq, ts: inTs }
            let pendingSeqGap = 0
            source.packets.forEach((p, i) => {
              if (i > 0) {
                inSeq = seqAdd(inSeq, 1 + p.lost)
                inTs = tsAdd(inTs, p.tsStep)
              }
              now += p.dtMs
              if (p.padding) {
                r.skip(inSeq)
                if (!rebasing) {
                  const distance = seqDiff(inSeq, prevIn.seq)
                  // An effective skip leaves no gap; otherwise the padding seq is a gap like a loss.
                  pendingSeqGap += distance === 1 ? 0 : distance
                  prevIn = { seq: inSeq, ts: prevIn.ts }
                }
                return
              }
              const out = r.rewrite(inSeq, inTs, now)
              expect(out).toBeDefined()
              if (out === undefined) return
              if (lastOut === undefined) {
                expect(out).toEqual({ sequenceNumber: initSeq, timestamp: initTs })
              } else if (rebasing) {
                expect(seqDiff(out.sequenceNumber, lastOut.seq)).toBe(1)
                const ticks = Math.max(1, Math.round(((now - lastOut.now) * CLOCK) / 1000))
                expect(tsDiff(out.timestamp, lastOut.ts)).toBe(ticks)
              } else {
                const gap = pendingSeqGap + seqDiff(inSeq, prevIn.seq)
                expect(seqDiff(out.sequenceNumber, lastOut.seq)).toBe(gap)
                expect(tsDiff(out.timestamp, lastOut.ts)).toBe(tsDiff(inTs, prevIn.ts))
              }
              expect(tsDiff(out.timestamp, lastOut?.ts ?? initTs)).toBeGreaterThanOrEqual(0)
              expect(r.lastSequenceNumber).toBe(out.sequenceNumber)
              expect(r.lastTimestamp).toBe(out.timestamp)
              rebasing = false
              pendingSeqGap = 0
              prevIn = { seq: inSeq, ts: inTs }
              lastOut = { seq: out.sequenceNumber, ts: out.timestamp, now }
            })
          }
        }
      ),
      params
    )
  })

  it("without upstream loss, output seqs are strictly consecutive and timestamps never go back", () => {
    fc.assert(
      fc.property(
        seqArb,
        tsArb,
        fc.array(sourceArb, { minLength: 1, maxLength: 8 }),
        (initSeq, initTs, sources) => {
          const r = new RtpRewriter({
            clockRate: CLOCK,
            initialSequenceNumber: initSeq,
            initialTimestamp: initTs
          })
          let now = 0
          const outs: Array<{ readonly sequenceNumber: number; readonly timestamp: number }> = []
          for (const source of sources) {
            r.switchSource()
            let inSeq = source.startSeq
            let inTs = source.startTs
            source.packets.forEach((p, i) => {
              if (i > 0) {
                inSeq = seqAdd(inSeq, 1)
                inTs = tsAdd(inTs, p.tsStep)
              }
              now += p.dtMs
              // Padding after the first packet of a source is always the next seq, so skip() applies.
              if (p.padding && i > 0) {
                r.skip(inSeq)
                return
              }
              const out = r.rewrite(inSeq, inTs, now)
              if (out !== undefined) outs.push(out)
            })
          }
          for (let i = 1; i < outs.length; i++) {
            expect(outs[i]!.sequenceNumber).toBe(seqAdd(outs[i - 1]!.sequenceNumber, 1))
            expect(tsDiff(outs[i]!.timestamp, outs[i - 1]!.timestamp)).toBeGreaterThanOrEqual(0)
          }
          expect(outs.length).toBe(
            sources.reduce((n, s) => n + s.packets.filter((p, i) => i === 0 || !p.padding).length, 0)
          )
        }
      ),
      params
    )
  })
})
