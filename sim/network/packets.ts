import type { AudioLevel } from "../../src/media/rtp-packet.ts"

/** What travels on a client's links. `conn` is the ICE username fragment of the connection it belongs to. */

export interface RtpOnWire {
  readonly conn: string
  readonly mid: string
  readonly ssrc: number
  readonly payloadType: number
  readonly sequenceNumber: number
  readonly timestamp: number
  readonly marker: boolean
  readonly payload: Uint8Array
  readonly audioLevel: AudioLevel | undefined
  /** A retransmission (RTX, shown unwrapped as werift's receiver does). */
  readonly rtx: boolean
}

export type UpPacket =
  | ({ readonly kind: "rtp"; readonly rid: string | undefined } & RtpOnWire)
  | {
      readonly kind: "nack"
      readonly conn: string
      readonly mid: string
      readonly seqs: ReadonlyArray<number>
    }
  | { readonly kind: "pli"; readonly conn: string; readonly mid: string }
  /**
   * Transport-wide congestion feedback: for each transport sequence number from `baseSeq`
   * (16 bits, wrapping) on, when it arrived by the client's own clock, or undefined when it did not.
   */
  | {
      readonly kind: "twcc"
      readonly conn: string
      readonly baseSeq: number
      readonly arrivals: ReadonlyArray<number | undefined>
    }
  /** A receiver report: the share lost since the last one (in 1/256), and the last sender report echoed. */
  | {
      readonly kind: "rr"
      readonly conn: string
      readonly fractionLost256: number
      /** Server time of the last sender report the client got, and how long it held it before this report. */
      readonly lastSenderReportMs: number | undefined
      readonly delaySinceSenderReportMs: number
    }
  /** A STUN consent check: the client's keepalive. */
  | { readonly kind: "consent"; readonly conn: string }
  /** DTLS close_notify: the client closed its peer connection. */
  | { readonly kind: "bye"; readonly conn: string }

export type DownPacket =
  /** `transportSeq` is the transport-wide sequence number, when the connection negotiated transport-cc. */
  | ({ readonly kind: "rtp"; readonly transportSeq: number | undefined } & RtpOnWire)
  /** A padding-only packet probing the downlink; the receiver discards it after noting its arrival. */
  | {
      readonly kind: "padding"
      readonly conn: string
      readonly mid: string
      readonly transportSeq: number
      readonly paddingBytes: number
    }
  | { readonly kind: "sr"; readonly conn: string; readonly sentAtMs: number }
  | { readonly kind: "pli"; readonly conn: string; readonly mid: string; readonly ssrc: number }
  | {
      readonly kind: "nack"
      readonly conn: string
      readonly mid: string
      readonly ssrc: number
      readonly seqs: ReadonlyArray<number>
    }
  | { readonly kind: "consent-ok"; readonly conn: string }
  | { readonly kind: "bye"; readonly conn: string }

/** IP + UDP + SRTP overhead of one packet, in bytes. */
const OVERHEAD = 50

/** The transport-wide sequence number header extension (with its one-byte header and padding). */
export const TRANSPORT_SEQ_EXTENSION_BYTES = 8

/** RTP size before SRTP: header, extensions, payload and padding (what transport feedback reports). */
export const rtpSize = (packet: DownPacket): number => {
  switch (packet.kind) {
    case "rtp":
      return (
        12 +
        (packet.transportSeq === undefined ? 0 : TRANSPORT_SEQ_EXTENSION_BYTES) +
        packet.payload.byteLength
      )
    case "padding":
      return 12 + TRANSPORT_SEQ_EXTENSION_BYTES + packet.paddingBytes
    default:
      return 0
  }
}

export const wireSize = (packet: UpPacket | DownPacket): number => {
  switch (packet.kind) {
    case "rtp":
      return "transportSeq" in packet ? rtpSize(packet) + OVERHEAD : 12 + packet.payload.byteLength + OVERHEAD
    case "padding":
      return rtpSize(packet) + OVERHEAD
    case "twcc": {
      // RFC 8888-like size: header, base and count, two-byte status chunks of 7, one-byte deltas.
      const received = packet.arrivals.reduce<number>((n, a) => n + (a === undefined ? 0 : 1), 0)
      return 20 + 2 * Math.ceil(packet.arrivals.length / 7) + received + OVERHEAD
    }
    case "rr":
      return 32 + OVERHEAD
    case "sr":
      return 28 + OVERHEAD
    case "nack":
      return 16 + 4 * Math.ceil(packet.seqs.length / 4) + OVERHEAD
    case "pli":
      return 12 + OVERHEAD
    case "consent":
    case "consent-ok":
      return 60 + OVERHEAD
    case "bye":
      return 30 + OVERHEAD
  }
}

export const describePacket = (packet: UpPacket | DownPacket): string => {
  switch (packet.kind) {
    case "rtp":
      return `rtp ${packet.conn} ${packet.mid} ${packet.ssrc} ${packet.sequenceNumber}${packet.rtx ? " rtx" : ""}`
    case "nack":
      return `nack ${packet.conn} ${packet.mid} ${packet.seqs.join(",")}`
    case "pli":
      return `pli ${packet.conn} ${packet.mid}`
    case "padding":
      return `padding ${packet.conn} ${packet.mid} ${packet.transportSeq} ${packet.paddingBytes}`
    case "twcc":
      return `twcc ${packet.conn} ${packet.baseSeq}+${packet.arrivals.length}`
    case "rr":
      return `rr ${packet.conn} ${packet.fractionLost256}`
    default:
      return `${packet.kind} ${packet.conn}`
  }
}
