import { Duration } from "effect"
import { describe, expect, it } from "vitest"
import { PrismConfig } from "../../src/config.ts"
import { MediaCounters } from "../../src/observability/media-counters.ts"
import type { SimClient } from "../clients/sim-client.ts"
import { decodePayload, encodePayload, streamKey } from "../media/payload.ts"
import { Ledger, type SlotRecord } from "../observe/ledger.ts"
import { checkBoundedCost } from "./bounded-cost.ts"
import type { OracleContext } from "./context.ts"
import { checkIsolation } from "./isolation.ts"
import { checkSlotOutput } from "./slot-output.ts"

// The oracles must catch a server that misbehaves: each test records, by hand, what a
// broken server would have done, and expects the oracle to say so.

const fakeClient = (name: string, index: number, room: string, participantId: string) =>
  ({
    name,
    index,
    spec: { room },
    sessions: [{ generation: 1, participantId, receivers: new Map() }],
    unexpectedPackets: 0
  }) as unknown as SimClient

const setup = () => {
  const ledger = new Ledger()
  const clients = [fakeClient("alice", 0, "red", "pa_alice"), fakeClient("bob", 1, "red", "pa_bob")]
  const context: OracleContext = {
    ledger,
    clients,
    config: { ...PrismConfig.defaults, keyframeRequestInterval: Duration.millis(500) },
    counters: new MediaCounters(),
    buggify: undefined
  }
  const alicePeer = ledger.openPeer("alice", "red", "pa_alice", 0)
  const bobPeer = ledger.openPeer("bob", "red", "pa_bob", 0)
  const slot = ledger.slot(bobPeer, "1", "video", 1234)
  const publication = ledger.publication(alicePeer, "0", "video")
  return { ledger, context, clients, slot, publication, alicePeer }
}

/** A frame of alice's video: packets useq..useq+count-1. */
const frame = (useq: number, count: number, frameNo: number, keyframe: boolean, origin = 0) =>
  Array.from({ length: count }, (_, index) =>
    encodePayload(
      { origin, session: 1, track: 0, layer: 0, frame: frameNo, index, count, useq: useq + index, keyframe },
      100,
      true
    )
  )

/** The server receives `payloads` at `t` and sends them on the slot with out seq = useq + offset. */
const forward = (
  ledger: Ledger,
  slot: SlotRecord,
  t: number,
  payloads: Uint8Array[],
  offset: number,
  options: { send?: (useq: number) => boolean; ts?: number } = {}
) => {
  for (const payload of payloads) {
    ledger.recordArrival(payload, t)
    const useq = decodePayload(payload)!.useq
    if (options.send && !options.send(useq)) continue
    ledger.recordSend(slot, t, (useq + offset) & 0xffff, options.ts ?? t * 90, payload, false)
  }
}

describe("oracles catch a misbehaving server", () => {
  it("accept a clean stream", () => {
    const { ledger, context, slot } = setup()
    forward(ledger, slot, 10, frame(100, 3, 0, true), 500)
    forward(ledger, slot, 20, frame(103, 2, 1, false), 500)
    expect(checkSlotOutput(context)).toEqual([])
    expect(checkIsolation(context)).toEqual([])
    expect(checkBoundedCost(context)).toEqual([])
  })

  it("slot output: a stream that starts in the middle of a frame", () => {
    const { ledger, context, slot } = setup()
    forward(ledger, slot, 10, frame(100, 3, 0, false), 500)
    expect(
      checkSlotOutput(context)
        .map((v) => v.message)
        .join()
    ).toMatch(/not a keyframe/)
  })

  it("slot output: a packet the server had but skipped", () => {
    const { ledger, context, slot } = setup()
    forward(ledger, slot, 10, frame(100, 5, 0, true), 500, { send: (useq) => useq !== 102 })
    expect(
      checkSlotOutput(context)
        .map((v) => v.message)
        .join()
    ).toMatch(/skipped/)
  })

  it("slot output: a gap for a packet that never reached the server is fine", () => {
    const { ledger, context, slot } = setup()
    const payloads = frame(100, 5, 0, true)
    forward(ledger, slot, 10, payloads.slice(0, 2), 500)
    forward(ledger, slot, 10, payloads.slice(3), 500)
    expect(checkSlotOutput(context)).toEqual([])
  })

  it("slot output: one sequence number for two packets, and time going backwards", () => {
    const { ledger, context, slot } = setup()
    forward(ledger, slot, 10, frame(100, 2, 0, true), 500)
    forward(ledger, slot, 20, frame(200, 1, 1, false), 401)
    forward(ledger, slot, 30, frame(103, 1, 2, false), 500, { ts: 0 })
    const messages = checkSlotOutput(context)
      .map((v) => v.message)
      .join("\n")
    expect(messages).toMatch(/sent for two different packets/)
    expect(messages).toMatch(/timestamp goes back/)
  })

  it("slot output: a retransmission that is not the packet first sent", () => {
    const { ledger, context, slot } = setup()
    const payloads = frame(100, 3, 0, true)
    forward(ledger, slot, 10, payloads, 500)
    ledger.recordSend(slot, 50, 601, 900, payloads[2]!, true)
    expect(
      checkSlotOutput(context)
        .map((v) => v.message)
        .join()
    ).toMatch(/retransmission of seq 601/)
  })

  it("isolation: media from another room, or a participant's own", () => {
    const { ledger, context, clients, slot } = setup()
    clients.push(fakeClient("carol", 2, "blue", "pa_carol"))
    forward(ledger, slot, 10, frame(100, 1, 0, true, 2), 500)
    forward(ledger, slot, 20, frame(300, 1, 0, true, 1), 100)
    const messages = checkIsolation(context)
      .map((v) => v.message)
      .join("\n")
    expect(messages).toMatch(/carol's media \(room blue\) reached bob in room red/)
    expect(messages).toMatch(/pa_bob \(bob\) was sent its own media/)
  })

  it("bounded cost: keyframe requests faster than the throttle, NACK and retransmission storms, a queue that holds", () => {
    const { ledger, context, slot, publication } = setup()
    publication.keyframeRequests.push({ atMs: 1000, ssrc: 1 }, { atMs: 1200, ssrc: 1 })
    publication.nackedSeqs = 10
    const payloads = frame(100, 2, 0, true)
    ledger.recordArrival(payloads[0]!, 0)
    ledger.recordUpstreamDisorder(payloads[1]!)
    ledger.recordSend(slot, 300, 600, 9000, payloads[0]!, false)
    ledger.recordSend(slot, 310, 600, 9000, payloads[0]!, true)
    const messages = checkBoundedCost(context)
      .map((v) => v.message)
      .join("\n")
    expect(messages).toMatch(/keyframe requests at t=1000 and t=1200/)
    expect(messages).toMatch(/10 NACKed sequence numbers for 1 lost or reordered packets/)
    expect(messages).toMatch(/1 retransmissions for 0 NACKed/)
    expect(messages).toMatch(/waited 300 ms/)
    expect(streamKey({ origin: 0, session: 1, track: 0, layer: 0 } as never)).toBe("0.1/0/0")
  })
})
