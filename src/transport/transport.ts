import { Context, Data, type Effect, type Scope } from "effect"
import type { CodecName } from "../media/codec.ts"
import type { OutboundRtp, RtpPacket } from "../media/rtp-packet.ts"

/**
 * The seam between the SFU and the network. Everything above it (rooms, participants,
 * tracks, forwarders) speaks these SFU terms only; `WeriftTransport` implements them with
 * real peer connections and `sim/` with a simulated network.
 */

export type MediaKind = "audio" | "video"

export interface NegotiatedCodec {
  readonly name: CodecName
  readonly payloadType: number
  readonly clockRate: number
  /** The RTX payload type paired with this codec, when RTX was negotiated. */
  readonly rtxPayloadType: number | undefined
}

/** An m-line on which the client sends media to the server. */
export interface PublicationDescription {
  readonly mid: string
  readonly kind: MediaKind
  readonly codecs: ReadonlyArray<NegotiatedCodec>
  /** Simulcast rids in the order the offer declares them (empty without simulcast). */
  readonly rids: ReadonlyArray<string>
}

/** An m-line on which the server sends media to the client (a subscription slot). */
export interface SlotDescription {
  readonly mid: string
  readonly kind: MediaKind
  readonly codecs: ReadonlyArray<NegotiatedCodec>
  /** The fixed SSRC the server sends this slot on, for the whole session. */
  readonly ssrc: number
}

export interface InboundRtp extends RtpPacket {
  /** The simulcast layer (rid) this packet belongs to, if the publication is simulcast. */
  readonly rid: string | undefined
}

export type ConnectionState = "connecting" | "connected" | "failed" | "closed"

/** Synchronous callbacks from the network into the SFU. They run on the I/O callback and must not block. */
export interface PeerHandlers {
  readonly onRtp: (publicationMid: string, packet: InboundRtp) => void
  readonly onKeyframeRequest: (slotMid: string, nowMs: number) => void
  readonly onNack: (slotMid: string, sequenceNumbers: ReadonlyArray<number>) => void
  readonly onStateChange: (state: ConnectionState) => void
}

export interface Peer {
  readonly answer: string
  readonly publications: ReadonlyArray<PublicationDescription>
  readonly slots: ReadonlyArray<SlotDescription>
  /** Installs the handlers; packets that arrive before this are dropped. */
  readonly attach: (handlers: PeerHandlers) => void
  /**
   * Sends one RTP packet on a slot with the slot's SSRC and the given codec's payload type.
   * False when it could not go out (the connection is not up yet, or no longer).
   */
  readonly sendRtp: (slotMid: string, codec: NegotiatedCodec, packet: OutboundRtp) => boolean
  /** Retransmits a packet that was sent on a slot (RTX-wrapped when negotiated). */
  readonly retransmit: (slotMid: string, codec: NegotiatedCodec, packet: OutboundRtp) => boolean
  readonly requestKeyframe: (publicationMid: string, ssrc: number) => void
  readonly sendNack: (publicationMid: string, ssrc: number, sequenceNumbers: ReadonlyArray<number>) => void
  /** Milliseconds since the client was last heard from (STUN consent, RTP or RTCP). */
  readonly silenceMs: () => number
  /** Applies a new offer from the same client (ICE restart) and returns the answer. */
  readonly renegotiate: (offer: string) => Effect.Effect<string, NegotiationError>
}

export class NegotiationError extends Data.TaggedError("NegotiationError")<{
  readonly reason: string
}> {}

export interface ConnectRequest {
  readonly offer: string
  readonly room: string
  readonly participantId: string
}

export class Transport extends Context.Service<
  Transport,
  {
    /** Answers an offer. The peer connection lives until the scope closes. */
    readonly connect: (request: ConnectRequest) => Effect.Effect<Peer, NegotiationError, Scope.Scope>
  }
>()("prism/Transport") {}
