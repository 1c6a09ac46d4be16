import { Context, Effect, Layer, Schedule } from "effect"
import { forkSupervised } from "../src/fault/supervision.ts"
import type { OutboundRtp } from "../src/media/rtp-packet.ts"
import {
  NegotiationError,
  type Peer,
  type PeerHandlers,
  type SlotDescription,
  Transport
} from "../src/transport/transport.ts"
import type { SimBuggify } from "./faults/sim-buggify.ts"
import { SentPacketHistory } from "./feedback/sent-packet-history.ts"
import type { ClientEndpoint, Network, ServerEndpoint } from "./network/network.ts"
import { type DownPacket, TRANSPORT_SEQ_EXTENSION_BYTES, type UpPacket } from "./network/packets.ts"
import type { FeedbackRecord, Ledger, PeerRecord, PublicationRecord, SlotRecord } from "./observe/ledger.ts"
import { type Negotiated, negotiate } from "./sdp/negotiate.ts"

/** The simulated network and the ledger the transport records into. */
export class SimNetwork extends Context.Service<
  SimNetwork,
  {
    readonly network: Network
    readonly ledger: Ledger
    /** Injected faults, to tell a packet the server dropped on purpose from one it got. */
    readonly buggify: SimBuggify | undefined
    /** The server's latest peer for each client, by client name (lets a scenario drive the seam directly). */
    readonly peers: Map<string, Peer>
  }
>()("prism-sim/SimNetwork") {}

/** RTP padding is at most 255 bytes a packet (its length is one byte). */
const MAX_PADDING_PER_PACKET = 255
/** One `sendPadding` call sends at most this much, whatever it asks for. */
const MAX_PADDING_PER_CALL = 64 * 1024
const SENDER_REPORT_INTERVAL = "1 second"

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
  /** Present when the client negotiated transport-wide congestion control. */
  private readonly sentPackets: SentPacketHistory | undefined
  private readonly feedback: FeedbackRecord
  private sendingSenderReports = false

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
    this.sentPackets = negotiated.transportCc ? new SentPacketHistory() : undefined
    this.feedback = ledger.feedbackOf(record)
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
        publication.keyframeRequests.push({ atMs: this.now, ssrc })
        this.send({ kind: "pli", conn: this.conn, mid, ssrc })
      },
      sendNack: (mid, ssrc, seqs) => {
        const publication = this.publicationRecords.get(mid)
        if (this.closed || !publication) return
        publication.nackedSeqs += seqs.length
        this.send({ kind: "nack", conn: this.conn, mid, ssrc, seqs: [...seqs] })
      },
      sendPadding: (mid, bytes) => this.sendPadding(mid, bytes),
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
        this.handlers.onNack(packet.mid, packet.seqs, this.now)
        return
      }
      case "pli": {
        const slot = this.slotRecords.get(packet.mid)
        if (slot) slot.keyframeRequests++
        this.handlers.onKeyframeRequest(packet.mid, this.now)
        return
      }
      case "twcc":
        this.receiveTransportFeedback(packet)
        return
      case "rr":
        this.receiveReceiverReport(packet)
        return
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

  private receiveTransportFeedback(packet: Extract<UpPacket, { kind: "twcc" }>): void {
    if (!this.sentPackets) return
    const verdict = this.sentPackets.read(packet.baseSeq, packet.arrivals)
    if (!verdict.ok) {
      this.feedback.rejected++
      this.context.network.trace.record(`server twcc rejected ${verdict.reason}`)
      return
    }
    this.feedback.transportFeedback++
    this.feedback.unknown += verdict.unknown
    this.feedback.packetsReported += verdict.packets.length
    for (const p of verdict.packets) if (p.arrivalTimeMs === undefined) this.feedback.packetsReportedLost++
    if (verdict.packets.length === 0) return
    this.handlers.onCongestionFeedback({
      _tag: "TransportFeedback",
      nowMs: this.now,
      packets: verdict.packets
    })
  }

  private receiveReceiverReport(packet: Extract<UpPacket, { kind: "rr" }>): void {
    const fraction = packet.fractionLost256
    if (!Number.isInteger(fraction) || fraction < 0 || fraction > 255) {
      this.feedback.rejected++
      return
    }
    this.feedback.receiverReports++
    const sr = packet.lastSenderReportMs
    const rttMs = sr === undefined ? undefined : Math.max(0, this.now - sr - packet.delaySinceSenderReportMs)
    this.handlers.onCongestionFeedback({
      _tag: "ReceiverReport",
      nowMs: this.now,
      fractionLost: fraction / 256,
      rttMs
    })
    this.startSenderReports()
  }

  /** Sender reports (for the RTT in receiver reports) go out once a client has shown it sends RTCP reports. */
  private startSenderReports(): void {
    if (this.sendingSenderReports) return
    this.sendingSenderReports = true
    this.sendSenderReport()
  }

  /** Called once a second by the transport's timer fiber. */
  sendSenderReport(): void {
    if (this.closed || !this.sendingSenderReports) return
    this.send({ kind: "sr", conn: this.conn, sentAtMs: this.now })
  }

  private sendPadding(mid: string, bytes: number): number {
    const history = this.sentPackets
    if (this.closed || !history || !this.slots.has(mid) || !(bytes > 0)) return 0
    let remaining = Math.min(Math.floor(bytes), MAX_PADDING_PER_CALL)
    let sent = 0
    while (remaining > 0) {
      const paddingBytes = Math.min(MAX_PADDING_PER_PACKET, remaining)
      const size = 12 + TRANSPORT_SEQ_EXTENSION_BYTES + paddingBytes
      const transportSeq = history.onSend(this.now, size, true)
      this.send({ kind: "padding", conn: this.conn, mid, transportSeq, paddingBytes })
      remaining -= paddingBytes
      sent += paddingBytes
      this.feedback.paddingPackets++
    }
    this.feedback.paddingBytes += sent
    return sent
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
    const transportSeq = this.sentPackets?.onSend(
      this.now,
      12 + TRANSPORT_SEQ_EXTENSION_BYTES + packet.payload.byteLength,
      false
    )
    this.send({
      kind: "rtp",
      transportSeq,
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
    const { network, ledger, buggify, peers } = yield* SimNetwork
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
          yield* forkSupervised(
            "transport-timer",
            Effect.sync(() => server.sendSenderReport()).pipe(
              Effect.repeat(Schedule.spaced(SENDER_REPORT_INTERVAL))
            )
          )
          peers.set(client.name, server.peer)
          return server.peer
        })
    })
  })
)
