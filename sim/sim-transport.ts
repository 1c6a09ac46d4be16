import { Context, Effect, Layer } from "effect"
import type { OutboundRtp } from "../src/media/rtp-packet.ts"
import {
  NegotiationError,
  type Peer,
  type PeerHandlers,
  type SlotDescription,
  Transport
} from "../src/transport/transport.ts"
import type { SimBuggify } from "./faults/sim-buggify.ts"
import type { ClientEndpoint, Network, ServerEndpoint } from "./network/network.ts"
import type { DownPacket, UpPacket } from "./network/packets.ts"
import type { Ledger, PeerRecord, PublicationRecord, SlotRecord } from "./observe/ledger.ts"
import { type Negotiated, negotiate } from "./sdp/negotiate.ts"

/** The simulated network and the ledger the transport records into. */
export class SimNetwork extends Context.Service<
  SimNetwork,
  {
    readonly network: Network
    readonly ledger: Ledger
    /** Injected faults, to tell a packet the server dropped on purpose from one it got. */
    readonly buggify: SimBuggify | undefined
  }
>()("prism-sim/SimNetwork") {}

const noHandlers: PeerHandlers = {
  onRtp: () => undefined,
  onKeyframeRequest: () => undefined,
  onNack: () => undefined,
  onStateChange: () => undefined,
  onCongestionFeedback: () => undefined,
  onDataChannelOpen: () => undefined,
  onDataMessage: () => undefined
}

interface PeerContext {
  readonly network: Network
  readonly ledger: Ledger
  readonly buggify: SimBuggify | undefined
  readonly client: ClientEndpoint
  readonly record: PeerRecord
  readonly serverUfrag: string
}

/**
 * The server's end of one client connection over the simulated network: what werift does
 * for a real client (answer, route RTP by m-line, RTCP feedback, consent replies, close
 * notification), minus the cryptography.
 */
class SimServerPeer implements ServerEndpoint {
  readonly peer: Peer
  private handlers = noHandlers
  private connected = false
  private closed = false
  private lastHeardMs: number
  /** The client's current ICE username fragment: what it sends from and what the server sends to. */
  private conn: string
  private shape: ReadonlyArray<string>
  private readonly slots: ReadonlyMap<string, SlotDescription>
  private readonly slotRecords = new Map<string, SlotRecord>()
  private readonly publicationRecords = new Map<string, PublicationRecord>()

  constructor(
    private readonly context: PeerContext,
    ufrag: string,
    negotiated: Negotiated
  ) {
    const { ledger, record } = context
    this.lastHeardMs = this.now
    this.conn = ufrag
    this.shape = negotiated.shape
    this.slots = new Map(negotiated.slots.map((s) => [s.mid, s]))
    for (const slot of negotiated.slots) {
      this.slotRecords.set(slot.mid, ledger.slot(record, slot.mid, slot.kind, slot.ssrc))
    }
    for (const p of negotiated.publications) {
      this.publicationRecords.set(p.mid, ledger.publication(record, p.mid, p.kind))
    }
    this.peer = {
      answer: negotiated.answer,
      publications: negotiated.publications,
      slots: negotiated.slots,
      attach: (handlers) => {
        this.handlers = handlers
      },
      sendRtp: (mid, codec, packet) => this.sendOnSlot(mid, codec.payloadType, packet, false),
      retransmit: (mid, codec, packet) => this.sendOnSlot(mid, codec.payloadType, packet, true),
      requestKeyframe: (mid, ssrc) => {
        const publication = this.publicationRecords.get(mid)
        if (this.closed || !publication) return
        publication.keyframeRequests.push(this.now)
        this.send({ kind: "pli", conn: this.conn, mid, ssrc })
      },
      sendNack: (mid, ssrc, seqs) => {
        const publication = this.publicationRecords.get(mid)
        if (this.closed || !publication) return
        publication.nackedSeqs += seqs.length
        this.send({ kind: "nack", conn: this.conn, mid, ssrc, seqs: [...seqs] })
      },
      sendPadding: () => 0,
      sendData: () => false,
      silenceMs: () => this.now - this.lastHeardMs,
      renegotiate: (offer) => this.renegotiate(offer)
    }
    context.network.bind(this.conn, this)
  }

  private get now(): number {
    return this.context.network.world.now
  }

  close(): void {
    if (this.closed) return
    this.send({ kind: "bye", conn: this.conn })
    this.closed = true
    this.context.network.unbind(this.conn, this)
    this.context.ledger.closePeer(this.context.record, this.now)
  }

  receive(packet: UpPacket): void {
    if (this.closed) return
    this.lastHeardMs = this.now
    if (!this.connected) {
      this.connected = true
      this.handlers.onStateChange("connected")
    }
    switch (packet.kind) {
      case "rtp":
        this.receiveRtp(packet)
        return
      case "nack": {
        const slot = this.slotRecords.get(packet.mid)
        if (slot) slot.nackedSeqs += packet.seqs.length
        this.handlers.onNack(packet.mid, packet.seqs)
        return
      }
      case "pli": {
        const slot = this.slotRecords.get(packet.mid)
        if (slot) slot.keyframeRequests++
        this.handlers.onKeyframeRequest(packet.mid, this.now)
        return
      }
      case "consent":
        this.send({ kind: "consent-ok", conn: packet.conn })
        return
      case "bye":
        this.handlers.onStateChange("closed")
        return
    }
  }

  private receiveRtp(packet: Extract<UpPacket, { kind: "rtp" }>): void {
    const { ledger, buggify } = this.context
    const publication = this.publicationRecords.get(packet.mid)
    if (!publication) return
    const injectedBefore = buggify?.fired["track.inbox-full"] ?? 0
    this.handlers.onRtp(packet.mid, {
      payloadType: packet.payloadType,
      sequenceNumber: packet.sequenceNumber,
      timestamp: packet.timestamp,
      ssrc: packet.ssrc,
      marker: packet.marker,
      payload: packet.payload,
      audioLevel: packet.audioLevel,
      receivedAtMs: this.now,
      rid: packet.rid
    })
    // A packet the server dropped on purpose at its door never reached the track: like a loss upstream.
    const droppedOnPurpose = (buggify?.fired["track.inbox-full"] ?? 0) > injectedBefore
    if (droppedOnPurpose) ledger.recordUpstreamDisorder(packet.payload)
    else ledger.recordArrival(packet.payload, this.now)
  }

  private renegotiate(offer: string): Effect.Effect<string, NegotiationError> {
    const { network, serverUfrag, client } = this.context
    const slotSsrcs = new Map([...this.slots.values()].map((s) => [s.mid, s.ssrc]))
    return negotiate(offer, serverUfrag, slotSsrcs).pipe(
      Effect.flatMap((next) => {
        if (next.shape.join() !== this.shape.join()) {
          return new NegotiationError({
            reason: "a new offer may restart ICE but must keep the same m-lines and directions"
          })
        }
        const ufrag = next.iceUfrag
        if (ufrag === undefined || network.clientFor(ufrag) !== client) {
          return new NegotiationError({ reason: "unknown ICE credentials" })
        }
        network.unbind(this.conn, this)
        this.conn = ufrag
        network.bind(ufrag, this)
        this.shape = next.shape
        this.lastHeardMs = this.now
        return Effect.succeed(next.answer)
      })
    )
  }

  private sendOnSlot(mid: string, payloadType: number, packet: OutboundRtp, rtx: boolean): boolean {
    const slot = this.slots.get(mid)
    const record = this.slotRecords.get(mid)
    if (this.closed || !slot || !record) return false
    this.context.ledger.recordSend(
      record,
      this.now,
      packet.sequenceNumber,
      packet.timestamp,
      packet.payload,
      rtx
    )
    this.send({
      kind: "rtp",
      conn: this.conn,
      mid,
      ssrc: slot.ssrc,
      payloadType,
      sequenceNumber: packet.sequenceNumber,
      timestamp: packet.timestamp,
      marker: packet.marker,
      payload: packet.payload,
      audioLevel: packet.audioLevel,
      rtx
    })
    return true
  }

  private send(packet: DownPacket): void {
    this.context.client.sendDown(packet)
  }
}

/** A Transport over the simulated network, for the real rooms, participants and tracks. */
export const SimTransport = Layer.effect(
  Transport,
  Effect.gen(function* () {
    const { network, ledger, buggify } = yield* SimNetwork
    return Transport.of({
      connect: (request) =>
        Effect.gen(function* () {
          const serverUfrag = `prism-${request.participantId}`
          const negotiated = yield* negotiate(request.offer, serverUfrag)
          const ufrag = negotiated.iceUfrag
          const client = ufrag === undefined ? undefined : network.clientFor(ufrag)
          if (ufrag === undefined || client === undefined) {
            return yield* new NegotiationError({ reason: "unknown ICE credentials" })
          }
          const server = yield* Effect.acquireRelease(
            Effect.sync(() => {
              network.trace.record(`server open ${request.participantId} ${client.name} ${ufrag}`)
              const record = ledger.openPeer(
                client.name,
                request.room,
                request.participantId,
                network.world.now
              )
              return new SimServerPeer(
                { network, ledger, buggify, client, record, serverUfrag },
                ufrag,
                negotiated
              )
            }),
            (peer) =>
              Effect.sync(() => {
                network.trace.record(`server close ${request.participantId}`)
                peer.close()
              })
          )
          return server.peer
        })
    })
  })
)
