import { assert, describe, it } from "@effect/vitest"
import { Effect, Queue } from "effect"
import type { OutboundRtp } from "../../src/media/rtp-packet.ts"
import { MediaCounters } from "../../src/observability/media-counters.ts"
import { SubscriptionSlot } from "../../src/participant/subscription-slot.ts"
import { Track } from "../../src/track/track.ts"
import type { InboundRtp, Peer, PublicationDescription } from "../../src/transport/transport.ts"

const vp8 = { name: "VP8" as const, payloadType: 96, clockRate: 90000, rtxPayloadType: 97 }

/** A Peer that records what the SFU asks of it. */
const fakePeer = () => {
  const sent: Array<{ mid: string; packet: OutboundRtp }> = []
  const keyframeRequests: number[] = []
  const peer: Peer = {
    answer: "",
    publications: [],
    slots: [],
    attach: () => undefined,
    sendRtp: (mid, _codec, packet) => {
      sent.push({ mid, packet })
      return true
    },
    retransmit: () => true,
    requestKeyframe: (_mid, ssrc) => {
      keyframeRequests.push(ssrc)
    },
    sendNack: () => undefined,
    sendPadding: () => 0,
    sendData: () => false,
    silenceMs: () => 0,
    renegotiate: () => Effect.succeed("")
  }
  return { peer, sent, keyframeRequests }
}

const publication: PublicationDescription = { mid: "0", kind: "video", codecs: [vp8], rids: [] }

const packet = (seq: number, keyframe: boolean): InboundRtp => ({
  payloadType: 96,
  sequenceNumber: seq & 0xffff,
  timestamp: seq * 3000,
  ssrc: 1111,
  marker: true,
  payload: Uint8Array.of(0x10, keyframe ? 0x00 : 0x01, 0, 0),
  audioLevel: undefined,
  receivedAtMs: seq,
  rid: undefined
})

describe("track fan-out", () => {
  it.effect("a stuck subscriber loses only its own packets; the others get everything", () =>
    Effect.gen(function* () {
      const counters = new MediaCounters()
      const publisher = fakePeer()
      const subscriber = fakePeer()
      const track = yield* Track.make({
        id: "p:0",
        participantId: "p",
        publication,
        peer: publisher.peer,
        counters,
        queuePackets: 4096,
        keyframeRequestIntervalMs: 500,
        publisherRoundTripMs: () => undefined
      })
      const healthy = yield* SubscriptionSlot.make({
        participantId: "s",
        description: { mid: "1", kind: "video", codecs: [vp8], ssrc: 42 },
        peer: subscriber.peer,
        counters,
        queuePackets: 4096
      })
      const stuckQueue = yield* Queue.dropping<unknown>(4)
      let stuckDrops = 0
      track.attach({
        key: "stuck",
        offer: (p) => {
          const ok = Queue.offerUnsafe(stuckQueue, p)
          if (!ok) stuckDrops++
          return ok
        }
      })
      healthy.bind(track, 0)
      for (let seq = 0; seq < 2000; seq++) track.receive(packet(seq, seq === 0))
      while (subscriber.sent.length < 2000) yield* Effect.yieldNow
      assert.strictEqual(subscriber.sent.length, 2000)
      assert.strictEqual(stuckDrops, 2000 - 4)
      const seqs = subscriber.sent.map((s) => s.packet.sequenceNumber)
      for (let i = 1; i < seqs.length; i++) assert.strictEqual(seqs[i], (seqs[i - 1]! + 1) & 0xffff)
    })
  )

  it.effect("keyframe requests from many subscribers reach the publisher at most once per 500 ms", () =>
    Effect.gen(function* () {
      const counters = new MediaCounters()
      const publisher = fakePeer()
      const track = yield* Track.make({
        id: "p:0",
        participantId: "p",
        publication,
        peer: publisher.peer,
        counters,
        queuePackets: 64,
        keyframeRequestIntervalMs: 500,
        publisherRoundTripMs: () => undefined
      })
      track.receive(packet(0, true))
      while (track.packetsReceived === 0) yield* Effect.yieldNow
      const slots = []
      for (let i = 0; i < 10; i++) {
        slots.push(
          yield* SubscriptionSlot.make({
            participantId: `s${i}`,
            description: { mid: "1", kind: "video", codecs: [vp8], ssrc: i },
            peer: fakePeer().peer,
            counters,
            queuePackets: 64
          })
        )
      }
      for (const slot of slots) slot.bind(track, 0)
      for (let now = 0; now <= 2000; now += 10) for (const slot of slots) slot.keyframeRequested(now)
      // 10 bindings and 10 subscribers × 201 requests over 2 s: requests at 0, 500, 1000, 1500 and 2000 ms only.
      assert.strictEqual(publisher.keyframeRequests.length, 5)
      assert.strictEqual(counters.keyframeRequestsFromSubscribers, 2010)
    })
  )

  it.effect("a NACK the slot cannot answer asks the publisher for a keyframe; one it answers does not", () =>
    Effect.gen(function* () {
      const counters = new MediaCounters()
      const publisher = fakePeer()
      const subscriber = fakePeer()
      const track = yield* Track.make({
        id: "p:0",
        participantId: "p",
        publication,
        peer: publisher.peer,
        counters,
        queuePackets: 4096,
        keyframeRequestIntervalMs: 500,
        publisherRoundTripMs: () => undefined
      })
      const slot = yield* SubscriptionSlot.make({
        participantId: "s",
        description: { mid: "1", kind: "video", codecs: [vp8], ssrc: 42 },
        peer: subscriber.peer,
        counters,
        queuePackets: 4096
      })
      slot.bind(track, 0)
      for (let seq = 0; seq < 100; seq++) track.receive(packet(seq, seq === 0))
      while (subscriber.sent.length < 100) yield* Effect.yieldNow
      const afterBind = publisher.keyframeRequests.length
      const sent = subscriber.sent.map((s) => s.packet.sequenceNumber)

      slot.nacked([sent[90]!, sent[91]!], 1000)
      assert.strictEqual(counters.retransmissions, 2)
      assert.strictEqual(publisher.keyframeRequests.length, afterBind, "everything NACKed was resent")

      // Never sent on this slot (or long gone from its history): only a keyframe repairs it.
      slot.nacked([(sent[0]! - 1000) & 0xffff], 2000)
      assert.strictEqual(publisher.keyframeRequests.length, afterBind + 1)
      assert.strictEqual(counters.keyframeRequestsFromSubscribers, 0, "the subscriber asked for none itself")
    })
  )
})
