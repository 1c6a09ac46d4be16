import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  buildGenericNack,
  buildPli,
  buildSenderReport,
  ntpFromUnixMs,
  ntpMiddle32,
  packNackPairs,
  parseNackSequenceNumbers
} from "../../src/media/rtcp-feedback.ts"
import { seqAdd } from "../../src/media/sequence-number.ts"

const params = { seed: 42, numRuns: 300 }
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)
const sorted = (xs: Iterable<number>) => [...xs].sort((a, b) => a - b)

describe("buildPli", () => {
  it("encodes a PSFB FMT=1 packet", () => {
    const b = buildPli(0x01020304, 0xfffffffe)
    expect([...b]).toEqual([0x81, 206, 0, 2, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfe])
  })
})

describe("buildGenericNack", () => {
  it("encodes the header and SSRCs", () => {
    const b = buildGenericNack(0xdeadbeef, 7, [100])
    const v = view(b)
    expect(b.length).toBe(16)
    expect(v.getUint8(0)).toBe(0x81)
    expect(v.getUint8(1)).toBe(205)
    expect(v.getUint16(2)).toBe(3)
    expect(v.getUint32(4)).toBe(0xdeadbeef)
    expect(v.getUint32(8)).toBe(7)
    expect(v.getUint16(12)).toBe(100)
    expect(v.getUint16(14)).toBe(0)
  })

  it("packs up to 16 following seqs into the bitmask", () => {
    expect(packNackPairs([1, 2, 3, 17, 18])).toEqual([
      { pid: 1, blp: 0x8003 },
      { pid: 18, blp: 0 }
    ])
    expect(packNackPairs([65535, 0, 1])).toEqual([{ pid: 65535, blp: 0b11 }])
    expect(packNackPairs([1, 65535, 1, 0])).toEqual([{ pid: 65535, blp: 0b11 }])
    expect(packNackPairs([])).toEqual([])
  })

  it("round-trips any set of sequence numbers", () => {
    const around = fc
      .tuple(
        fc.integer({ min: 0, max: 0xffff }),
        fc.array(fc.integer({ min: -300, max: 300 }), { minLength: 1, maxLength: 200 })
      )
      .map(([base, offsets]) => offsets.map((o) => seqAdd(base, o)))
    const anywhere = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 200 })
    fc.assert(
      fc.property(fc.oneof(around, anywhere), (seqs) => {
        const packet = buildGenericNack(1, 2, seqs)
        const v = view(packet)
        expect((v.getUint16(2) + 1) * 4).toBe(packet.length)
        const parsed = parseNackSequenceNumbers(packet.subarray(12))
        expect(sorted(parsed)).toEqual(sorted(new Set(seqs)))
        // Never more pairs than distinct seqs.
        expect(packet.length - 12).toBeLessThanOrEqual(new Set(seqs).size * 4)
      }),
      params
    )
  })

  it("uses a single pair for any run of up to 17 consecutive seqs", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 17 }), (base, n) => {
        const seqs = Array.from({ length: n }, (_, i) => seqAdd(base, i)).reverse()
        expect(buildGenericNack(1, 2, seqs).length).toBe(16)
      }),
      params
    )
  })
})

describe("parseNackSequenceNumbers", () => {
  it("expands PID and BLP", () => {
    expect(sorted(parseNackSequenceNumbers(Uint8Array.from([0xff, 0xff, 0x80, 0x01])))).toEqual([
      0, 15, 65535
    ])
  })

  it("ignores a trailing partial entry and tolerates empty input", () => {
    expect(parseNackSequenceNumbers(new Uint8Array(0))).toEqual([])
    expect(parseNackSequenceNumbers(Uint8Array.from([0, 5, 0]))).toEqual([])
    expect(parseNackSequenceNumbers(Uint8Array.from([0, 5, 0, 0, 9]))).toEqual([5])
  })

  it("never throws on garbage and yields distinct 16-bit seqs", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const seqs = parseNackSequenceNumbers(bytes)
        expect(new Set(seqs).size).toBe(seqs.length)
        for (const s of seqs) {
          expect(Number.isInteger(s)).toBe(true)
          expect(s).toBeGreaterThanOrEqual(0)
          expect(s).toBeLessThanOrEqual(0xffff)
        }
        expect(seqs.length).toBeLessThanOrEqual(Math.floor(bytes.length / 4) * 17)
      }),
      params
    )
  })
})

describe("buildSenderReport", () => {
  it("encodes header, NTP time and counters", () => {
    // 2024-01-01T00:00:00.500Z
    const b = buildSenderReport(0x11223344, 1_704_067_200_500, 0xfffffff0, 1234, 567890)
    const v = view(b)
    expect(b.length).toBe(28)
    expect(v.getUint8(0)).toBe(0x80)
    expect(v.getUint8(1)).toBe(200)
    expect(v.getUint16(2)).toBe(6)
    expect(v.getUint32(4)).toBe(0x11223344)
    expect(v.getUint32(8)).toBe(3_913_056_000)
    expect(v.getUint32(12)).toBe(0x80000000)
    expect(v.getUint32(16)).toBe(0xfffffff0)
    expect(v.getUint32(20)).toBe(1234)
    expect(v.getUint32(24)).toBe(567890)
  })

  it("converts Unix ms to NTP", () => {
    expect(ntpFromUnixMs(0)).toEqual({ seconds: 2_208_988_800, fraction: 0 })
    expect(ntpFromUnixMs(250)).toEqual({ seconds: 2_208_988_800, fraction: 0x40000000 })
    expect(ntpMiddle32({ seconds: 0x12345678, fraction: 0x9abcdef0 })).toBe(0x56789abc)
  })

  it("NTP time is monotonic and accurate to well under a millisecond", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 2_000_000_000_000, noNaN: true }),
        fc.double({ min: 0, max: 100_000, noNaN: true }),
        (ms, delta) => {
          const a = ntpFromUnixMs(ms)
          const b = ntpFromUnixMs(ms + delta)
          const toMs = (t: { seconds: number; fraction: number }) =>
            (t.seconds - 2_208_988_800) * 1000 + (t.fraction / 0x100000000) * 1000
          expect(Math.abs(toMs(a) - ms)).toBeLessThan(0.01)
          expect(toMs(b)).toBeGreaterThanOrEqual(toMs(a))
          expect(a.fraction).toBeLessThan(0x100000000)
        }
      ),
      params
    )
  })
})
