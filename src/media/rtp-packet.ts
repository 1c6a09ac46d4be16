// The SFU's own packet shapes, independent of any RTP library.

/** RFC 6464 client-to-mixer audio level. */
export interface AudioLevel {
  readonly voice: boolean
  /** 0..127, in -dBov (0 is loudest, 127 is silence). */
  readonly level: number
}

/** An inbound packet as the SFU sees it. */
export interface RtpPacket {
  readonly payloadType: number
  readonly sequenceNumber: number
  readonly timestamp: number
  readonly ssrc: number
  readonly marker: boolean
  readonly payload: Uint8Array
  readonly audioLevel: AudioLevel | undefined
  readonly receivedAtMs: number
}

/** What a subscriber slot sends; the transport fills in SSRC, payload type and header extensions. */
export interface OutboundRtp {
  readonly sequenceNumber: number
  readonly timestamp: number
  readonly marker: boolean
  readonly payload: Uint8Array
  readonly audioLevel: AudioLevel | undefined
}
