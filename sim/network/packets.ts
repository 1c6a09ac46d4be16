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
  /** A STUN consent check: the client's keepalive. */
  | { readonly kind: "consent"; readonly conn: string }
  /** DTLS close_notify: the client closed its peer connection. */
  | { readonly kind: "bye"; readonly conn: string }

export type DownPacket =
  | ({ readonly kind: "rtp" } & RtpOnWire)
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

export const wireSize = (packet: UpPacket | DownPacket): number => {
  switch (packet.kind) {
    case "rtp":
      return 12 + packet.payload.byteLength + OVERHEAD
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
    default:
      return `${packet.kind} ${packet.conn}`
  }
}
