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
  /**
   * Simulcast signalled by `a=ssrc-group:SIM` instead of rids: the layers' media SSRCs in the
   * order the group declares them, lowest quality first (absent or empty without such a group).
   */
  readonly simulcastSsrcs?: ReadonlyArray<number>
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

/** What a subscriber's transport-wide congestion feedback says about one packet the server sent it. */
export interface PacketResult {
  /** Server clock when the packet left. */
  readonly sendTimeMs: number
  /** RTP packet size on the wire (header, payload and padding, before SRTP). */
  readonly sizeBytes: number
  /** The subscriber's clock when it arrived (its own epoch), undefined when reported lost. */
  readonly arrivalTimeMs: number | undefined
  /** Whether it was probe padding rather than media. */
  readonly probe: boolean
}

/** Downlink feedback from a subscriber, for its bandwidth estimate. */
export type CongestionFeedback =
  | {
      readonly _tag: "TransportFeedback"
      readonly nowMs: number
      /** In transport-wide sequence order; packets the feedback does not cover are absent. */
      readonly packets: ReadonlyArray<PacketResult>
    }
  | { readonly _tag: "Remb"; readonly nowMs: number; readonly bitrateBps: number }
  | {
      readonly _tag: "ReceiverReport"
      readonly nowMs: number
      /** 0–1, the fraction of packets lost since the previous report. */
      readonly fractionLost: number
      readonly rttMs: number | undefined
    }

/** Synchronous callbacks from the network into the SFU. They run on the I/O callback and must not block. */
export interface PeerHandlers {
  readonly onRtp: (publicationMid: string, packet: InboundRtp) => void
  readonly onKeyframeRequest: (slotMid: string, nowMs: number) => void
  readonly onNack: (slotMid: string, sequenceNumbers: ReadonlyArray<number>, nowMs: number) => void
  readonly onStateChange: (state: ConnectionState) => void
  readonly onCongestionFeedback: (feedback: CongestionFeedback) => void
  /** A data channel the client opened is ready to carry messages both ways. */
  readonly onDataChannelOpen: (label: string) => void
  readonly onDataMessage: (label: string, message: string | Uint8Array) => void
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
  /**
   * Sends up to `bytes` of padding-only packets on a slot to probe the downlink (RTX padding
   * when negotiated). Returns the bytes actually sent (0 when the slot cannot carry padding).
   */
  readonly sendPadding: (slotMid: string, bytes: number) => number
  /**
   * Sends a message on the client's data channel with this label. False when the channel is
   * not open or its send buffer is over `maxBufferedBytes` (the caller counts the drop).
   */
  readonly sendData: (label: string, message: string | Uint8Array, maxBufferedBytes: number) => boolean
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
