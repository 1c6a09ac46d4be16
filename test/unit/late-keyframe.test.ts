import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { LayerSwitcher } from "../../src/media/layer-switcher.ts"
import type { RtpPacket } from "../../src/media/rtp-packet.ts"
import { SlotForwarder } from "../../src/media/slot-forwarder.ts"
import { MediaCounters } from "../../src/observability/media-counters.ts"
import { Track } from "../../src/track/track.ts"
import type { InboundRtp, Peer } from "../../src/transport/transport.ts"

// Found by the simulation (sim/scenarios/regressions.ts, sim/scenarios/video.ts): a keyframe whose first
// packet arrives after the rest of its frame must not start a stream, because the rest is already gone.

const vp8 = (start: boolean, keyframe: boolean) =>
  Uint8Array.of(start ? 0x10 : 0x00, keyframe ? 0x00 : 0x01, 0, 0)

const packet = (
  ssrc: number,
  seq: number,
  start: boolean,
  keyframe: boolean,
  at: number,
  size = 4
): InboundRtp => {
  const payload = new Uint8Array(size)
  payload.set(vp8(start, keyframe))
  return {
    payloadType: 96,
    sequenceNumber: seq,
    timestamp: Math.floor(seq / 3) * 3000,
    ssrc,
    marker: false,
    payload,
    audioLevel: undefined,
    receivedAtMs: at,
    rid: undefined
  }
}

const fakePeer: Peer = {
  answer: "",
  publications: [],
  slots: [],
  attach: () => undefined,
  sendRtp: () => true,
  retransmit: () => true,
  requestKeyframe: () => undefined,
  sendNack: () => undefined,
  sendPadding: () => 0,
  sendData: () => false,
  silenceMs: () => 0,
  renegotiate: () => Effect.succeed("")
}

describe("a late keyframe", () => {
  it("does not start a slot whose later packets were discarded while it waited", () => {
    const forwarder = new SlotForwarder({
      kind: "video",
      initialSequenceNumber: 1,
      initialTimestamp: 1,
      historyPackets: 64
    })
    const forward = (p: RtpPacket) => forwarder.forward(p, "VP8")._tag
    // frame 10..12 is a keyframe; 11 and 12 overtake 10
    assert.strictEqual(forward(packet(7, 11, false, true, 0)), "WaitingForKeyframe")
    assert.strictEqual(forward(packet(7, 12, false, true, 0)), "WaitingForKeyframe")
    assert.strictEqual(forward(packet(7, 10, true, true, 1)), "WaitingForKeyframe")
    assert.strictEqual(forward(packet(7, 13, false, false, 2)), "WaitingForKeyframe")
    // the next keyframe, in order, starts the stream
    assert.strictEqual(forward(packet(7, 14, true, true, 3)), "Send")
    assert.strictEqual(forward(packet(7, 15, false, true, 3)), "Send")
  })

  it.effect("does not complete a simulcast switch whose later packets were skipped", () =>
    Effect.gen(function* () {
      const peer = fakePeer
      const vp8Codec = { name: "VP8" as const, payloadType: 96, clockRate: 90000, rtxPayloadType: undefined }
      const track = yield* Track.make({
        id: "p:0",
        participantId: "p",
        publication: { mid: "0", kind: "video", codecs: [vp8Codec], rids: ["f", "q"] },
        peer,
        counters: new MediaCounters(),
        queuePackets: 4096,
        keyframeRequestIntervalMs: 500,
        publisherRoundTripMs: () => undefined
      })
      const forwarded: InboundRtp[] = []
      // A slot's layer choice: it starts on the low layer and is told to move to the high one.
      const switcher = new LayerSwitcher()
      track.attach({
        key: "s",
        offer: (p, keyframe, late) =>
          switcher.accept({ ssrc: p.ssrc, keyframe, late, marker: p.marker }) &&
          forwarded.push(p as InboundRtp) > 0
      })
      const LOW = 2
      const HIGH = 1
      switcher.setTarget(LOW)
      const deliver = function* (p: InboundRtp) {
        yield* TestClock.setTime(p.receivedAtMs)
        track.receive(p)
        while (track.packetsReceived < deliveredCount + 1) yield* Effect.yieldNow
        deliveredCount++
      }
      let deliveredCount = 0
      // the low layer starts first; the high layer flows at a much higher rate for two seconds
      yield* deliver(packet(LOW, 0, true, true, 0))
      for (let t = 0; t <= 2100; t += 50) {
        yield* deliver(packet(LOW, 1 + t / 50, false, false, t))
        yield* deliver(packet(HIGH, 100 + t / 50, false, false, t, 1200))
      }
      switcher.setTarget(HIGH)
      yield* deliver(packet(HIGH, 143, false, false, 2120, 1200))
      assert.strictEqual(
        forwarded.filter((p) => p.ssrc === HIGH).length,
        0,
        "the high layer waits for a keyframe"
      )
      // the high layer's keyframe: its second packet overtakes the first
      yield* deliver(packet(HIGH, 201, false, true, 2150, 1200))
      yield* deliver(packet(HIGH, 200, true, true, 2151, 1200))
      yield* deliver(packet(HIGH, 202, false, false, 2152, 1200))
      assert.deepStrictEqual(
        forwarded.filter((p) => p.ssrc === HIGH).map((p) => p.sequenceNumber),
        [],
        "no high-layer packet before an in-order keyframe"
      )
      yield* deliver(packet(HIGH, 203, true, true, 2200, 1200))
      yield* deliver(packet(HIGH, 204, false, true, 2200, 1200))
      assert.deepStrictEqual(
        forwarded.filter((p) => p.ssrc === HIGH).map((p) => p.sequenceNumber),
        [203, 204]
      )
      assert.isAbove(
        forwarded.filter((p) => p.ssrc === LOW).length,
        40,
        "the low layer flowed until the switch"
      )
    })
  )

  it.effect(
    "is not the first packet a newly attached subscriber gets; earlier subscribers still get it",
    () =>
      Effect.gen(function* () {
        const opus = { name: "opus" as const, payloadType: 111, clockRate: 48000, rtxPayloadType: undefined }
        const track = yield* Track.make({
          id: "p:1",
          participantId: "p",
          publication: { mid: "1", kind: "audio", codecs: [opus], rids: [] },
          peer: fakePeer,
          counters: new MediaCounters(),
          queuePackets: 64,
          keyframeRequestIntervalMs: 500,
          publisherRoundTripMs: () => undefined
        })
        const early: number[] = []
        const late: number[] = []
        track.attach({ key: "early", offer: (p) => early.push(p.sequenceNumber) > 0 })
        const deliver = function* (seq: number) {
          const before = track.packetsReceived
          track.receive(packet(3, seq, false, false, seq))
          while (track.packetsReceived === before) yield* Effect.yieldNow
        }
        yield* deliver(10)
        yield* deliver(12)
        track.attach({ key: "late", offer: (p) => late.push(p.sequenceNumber) > 0 })
        yield* deliver(11)
        yield* deliver(13)
        assert.deepStrictEqual(early, [10, 12, 11, 13])
        assert.deepStrictEqual(late, [13])
      })
  )
})
