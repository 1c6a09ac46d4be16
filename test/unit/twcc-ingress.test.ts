import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ntpFromUnixMs, ntpMiddle32 } from "../../src/media/rtcp-feedback.ts"
import { CongestionRtcpReader } from "../../src/media/transport-congestion-rtcp.ts"
import { SenderReportLog } from "../../src/media/transport-round-trip.ts"
import { TransportSendHistory } from "../../src/media/transport-send-history.ts"
import { SimulcastRtxIngress } from "../../src/media/transport-simulcast-rtx.ts"
import { serializeTransportFeedback } from "../../src/media/twcc-feedback.ts"

const SLOT_SSRC = 0x11111111

const reader = () => {
  const history = new TransportSendHistory()
  const reports = new SenderReportLog()
  return { history, reports, reader: new CongestionRtcpReader(history, reports, (s) => s === SLOT_SSRC) }
}

const remb = (bitrateExponent: number, mantissa: number) => {
  const bytes = new Uint8Array(24)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, 0x8f)
  view.setUint8(1, 206)
  view.setUint16(2, 5)
  view.setUint32(4, 1)
  view.setUint32(12, 0x52454d42)
  view.setUint32(16, (1 << 24) | (bitrateExponent << 18) | mantissa)
  view.setUint32(20, SLOT_SSRC)
  return bytes
}

const receiverReport = (blocks: Array<{ ssrc: number; fraction: number; lsr: number; dlsr: number }>) => {
  const bytes = new Uint8Array(8 + blocks.length * 24)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, 0x80 | blocks.length)
  view.setUint8(1, 201)
  view.setUint16(2, bytes.length / 4 - 1)
  view.setUint32(4, 99)
  blocks.forEach((b, i) => {
    const at = 8 + i * 24
    view.setUint32(at, b.ssrc)
    view.setUint8(at + 4, b.fraction)
    view.setUint32(at + 16, b.lsr)
    view.setUint32(at + 20, b.dlsr)
  })
  return bytes
}

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

describe("CongestionRtcpReader", () => {
  it("reads transport feedback, REMB and the slots' report blocks from one compound", () => {
    const { history, reports, reader: r } = reader()
    const numbers = [history.next(), history.next()]
    numbers.forEach((n, i) => {
      history.sent(n, 1000 + i, 500, false)
    })
    const sentAt = 5000
    const ntp = ntpFromUnixMs(sentAt)
    reports.record(ntpMiddle32(ntp), sentAt)
    const twcc = serializeTransportFeedback({
      senderSsrc: 1,
      mediaSsrc: SLOT_SSRC,
      baseSequenceNumber: numbers[0]!,
      referenceTime: 10,
      feedbackCount: 0,
      deltas: [4, undefined]
    })
    const rr = receiverReport([
      { ssrc: SLOT_SSRC, fraction: 64, lsr: ntpMiddle32(ntp), dlsr: 65536 / 10 }, // 100 ms held
      { ssrc: 0x2222, fraction: 128, lsr: 0, dlsr: 0 } // not a slot of ours
    ])
    const out = r.read(concat(rr, twcc, remb(2, 250000)), sentAt + 130)
    expect(out).toEqual([
      { _tag: "ReceiverReport", nowMs: 5130, fractionLost: 0.25, rttMs: expect.closeTo(30, 1) },
      {
        _tag: "TransportFeedback",
        nowMs: 5130,
        packets: [
          { sendTimeMs: 1000, sizeBytes: 500, arrivalTimeMs: 641, probe: false },
          { sendTimeMs: 1001, sizeBytes: 500, arrivalTimeMs: undefined, probe: false }
        ]
      },
      { _tag: "Remb", nowMs: 5130, bitrateBps: 1_000_000 }
    ])
    expect(r.malformed).toBe(0)
  })

  it("gives no round-trip time for a report that names no Sender Report of ours", () => {
    const { reader: r } = reader()
    const out = r.read(receiverReport([{ ssrc: SLOT_SSRC, fraction: 0, lsr: 1234, dlsr: 0 }]), 0)
    expect(out).toEqual([{ _tag: "ReceiverReport", nowMs: 0, fractionLost: 0, rttMs: undefined }])
  })

  it("never throws on arbitrary bytes and counts what it cannot read", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(200, 201, 205, 206), (raw, type) => {
        const { reader: r } = reader()
        const bytes = Uint8Array.from(raw)
        if (bytes.length >= 4) {
          bytes[0] = 0x80 | (bytes[0]! & 0x3f)
          bytes[1] = type
        }
        const out = r.read(bytes, 0)
        expect(Array.isArray(out)).toBe(true)
        if (bytes.length > 0 && out.length === 0 && r.malformed === 0) {
          // Nothing read and nothing malformed: only packets that are not congestion feedback.
          expect([200, 201, 205, 206]).toContain(bytes[1])
        }
      }),
      { seed: 5, numRuns: 2000 }
    )
  })

  it("counts a packet whose length runs past the compound, and stops there", () => {
    const { reader: r } = reader()
    const truncated = remb(2, 250000).subarray(0, 20)
    expect(r.read(concat(remb(1, 1), truncated), 0)).toEqual([{ _tag: "Remb", nowMs: 0, bitrateBps: 2 }])
    expect(r.malformed).toBe(1)
  })
})

describe("SimulcastRtxIngress", () => {
  const publications = [
    { mid: "0", rids: ["q", "h"], codecs: [{ payloadType: 96, rtxPayloadType: 97 }] },
    { mid: "1", rids: ["q", "h"], codecs: [{ payloadType: 96, rtxPayloadType: 97 }] },
    { mid: "2", rids: [], codecs: [{ payloadType: 98, rtxPayloadType: 99 }] }
  ]
  const rtxPayload = (sequenceNumber: number, body: number[]) =>
    Uint8Array.from([sequenceNumber >> 8, sequenceNumber & 0xff, ...body])

  it("unwraps a layer's retransmission into its media stream", () => {
    const ingress = new SimulcastRtxIngress(publications)
    ingress.learnLayer("1", "h", 0xabc)
    expect(ingress.handles(97)).toBe(true)
    expect(ingress.handles(99)).toBe(false) // not simulcast: werift unwraps it itself
    const result = ingress.unwrap({
      ssrc: 0x777,
      payloadType: 97,
      payload: rtxPayload(0xfffe, [1, 2, 3]),
      mid: "1",
      repairedRid: "h"
    })
    expect(result).toEqual({
      _tag: "Media",
      mid: "1",
      rid: "h",
      ssrc: 0xabc,
      payloadType: 96,
      sequenceNumber: 0xfffe,
      payload: Uint8Array.from([1, 2, 3])
    })
    // Later packets of that RTX stream may drop the rid extensions: its SSRC maps it.
    const later = ingress.unwrap({
      ssrc: 0x777,
      payloadType: 97,
      payload: rtxPayload(7, [9]),
      mid: undefined,
      repairedRid: undefined
    })
    expect(later).toMatchObject({ _tag: "Media", mid: "1", rid: "h", sequenceNumber: 7 })
  })

  it("counts and drops what it cannot map, and padding", () => {
    const ingress = new SimulcastRtxIngress(publications)
    const base = { ssrc: 1, payloadType: 97, payload: rtxPayload(1, [0]) }
    // Ambiguous rid without a mid, an unknown rid, an unknown SSRC, a media SSRC not learnt yet.
    expect(ingress.unwrap({ ...base, mid: undefined, repairedRid: "q" })._tag).toBe("Unmapped")
    expect(ingress.unwrap({ ...base, mid: "0", repairedRid: "f" })._tag).toBe("Unmapped")
    expect(ingress.unwrap({ ...base, ssrc: 5, mid: undefined, repairedRid: undefined })._tag).toBe("Unmapped")
    expect(ingress.unwrap({ ...base, mid: "0", repairedRid: "q" })._tag).toBe("Unmapped")
    expect(ingress.unmapped).toBe(4)
    ingress.learnLayer("0", "q", 42)
    expect(ingress.unwrap({ ...base, payload: new Uint8Array(0), mid: "0", repairedRid: "q" })._tag).toBe(
      "Padding"
    )
    expect(ingress.padding).toBe(1)
    expect(ingress.unwrap({ ...base, payloadType: 96, mid: "0", repairedRid: "q" })._tag).toBe("Unmapped")
  })
})
