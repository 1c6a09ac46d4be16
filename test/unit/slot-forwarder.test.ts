import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { isKeyframe } from "../../src/media/keyframe.ts"
import type { RtpPacket } from "../../src/media/rtp-packet.ts"
import { seqDiff, tsDiff } from "../../src/media/sequence-number.ts"
import { SlotForwarder } from "../../src/media/slot-forwarder.ts"

const vp8 = (keyframe: boolean) => Uint8Array.of(0x10, keyframe ? 0x00 : 0x01, 0x9d, 0x01)

interface Source {
  readonly ssrc: number
  readonly seqStart: number
  readonly tsStart: number
  readonly packets: number
  readonly keyframeAt: number
}

const source = fc.record({
  ssrc: fc.integer({ min: 1, max: 0xffffffff }),
  seqStart: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 65500, max: 0xffff })),
  tsStart: fc.oneof(
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.integer({ min: 0xffffff00, max: 0xffffffff })
  ),
  packets: fc.integer({ min: 1, max: 80 }),
  keyframeAt: fc.integer({ min: 0, max: 100 })
})

describe("slot forwarder", () => {
  it("across any sequence of video sources: one continuous stream, each source starting at a keyframe", () => {
    fc.assert(
      fc.property(fc.array(source, { minLength: 1, maxLength: 6 }), (sources: Source[]) => {
        const forwarder = new SlotForwarder({
          kind: "video",
          initialSequenceNumber: 100,
          initialTimestamp: 5000,
          historyPackets: 256
        })
        const out: Array<{ seq: number; ts: number; keyframe: boolean; first: boolean }> = []
        let now = 0
        let previousSsrc: number | undefined
        for (const s of sources) {
          // a new binding even when the publisher reuses an SSRC
          if (s.ssrc === previousSsrc) forwarder.unbind()
          previousSsrc = s.ssrc
          let firstOfSource = true
          for (let i = 0; i < s.packets; i++) {
            now += 10
            const packet: RtpPacket = {
              payloadType: 96,
              sequenceNumber: (s.seqStart + i) & 0xffff,
              timestamp: (s.tsStart + i * 900) >>> 0,
              ssrc: s.ssrc,
              marker: true,
              payload: vp8(i === s.keyframeAt),
              audioLevel: undefined,
              receivedAtMs: now
            }
            const result = forwarder.forward(packet, "VP8")
            if (result._tag === "Send") {
              out.push({
                seq: result.packet.sequenceNumber,
                ts: result.packet.timestamp,
                keyframe: isKeyframe("VP8", result.packet.payload),
                first: firstOfSource
              })
              firstOfSource = false
            } else {
              expect(i < s.keyframeAt).toBe(true)
            }
          }
        }
        for (const o of out) if (o.first) expect(o.keyframe).toBe(true)
        for (let i = 1; i < out.length; i++) {
          expect(seqDiff(out[i]!.seq, out[i - 1]!.seq)).toBe(1)
          expect(tsDiff(out[i]!.ts, out[i - 1]!.ts)).toBeGreaterThan(0)
        }
        if (out.length > 0) expect(out[0]!.seq).toBe(100)
      }),
      { seed: 7, numRuns: 300 }
    )
  })

  it("answers NACKs from history with exactly the packets sent", () => {
    const forwarder = new SlotForwarder({
      kind: "video",
      initialSequenceNumber: 65530,
      initialTimestamp: 0,
      historyPackets: 64
    })
    const sent = []
    for (let i = 0; i < 100; i++) {
      const result = forwarder.forward(
        {
          payloadType: 96,
          sequenceNumber: i,
          timestamp: i * 3000,
          ssrc: 9,
          marker: false,
          payload: vp8(i === 0),
          audioLevel: undefined,
          receivedAtMs: i
        },
        "VP8"
      )
      if (result._tag === "Send") sent.push(result.packet)
    }
    const wanted = [sent[99]!.sequenceNumber, sent[50]!.sequenceNumber, sent[0]!.sequenceNumber]
    const found = forwarder.lookup(wanted)
    expect(found.map((p) => p.sequenceNumber)).toEqual([sent[99]!.sequenceNumber, sent[50]!.sequenceNumber])
    expect(found[0]).toBe(sent[99])
  })

  it("forwards audio from the first packet, without waiting for anything", () => {
    const forwarder = new SlotForwarder({
      kind: "audio",
      initialSequenceNumber: 1,
      initialTimestamp: 1,
      historyPackets: 0
    })
    const result = forwarder.forward(
      {
        payloadType: 111,
        sequenceNumber: 77,
        timestamp: 960,
        ssrc: 5,
        marker: false,
        payload: Uint8Array.of(0xfc),
        audioLevel: { voice: true, level: 30 },
        receivedAtMs: 0
      },
      "opus"
    )
    expect(result._tag).toBe("Send")
  })
})
