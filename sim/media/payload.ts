/**
 * What a simulated publisher puts in each RTP payload: a real VP8 payload descriptor in
 * the first two bytes (so the server's keyframe detection works as on real traffic), then
 * where the packet comes from, which the subscribers and the oracles read back.
 */
export interface PayloadInfo {
  /** Index of the publishing client. */
  readonly origin: number
  /** The publishing client's session (it starts a new one on every join). */
  readonly session: number
  /** Which of its publications. */
  readonly track: number
  /** Simulcast layer index, 0 without simulcast. */
  readonly layer: number
  /** Frame number within the layer (audio: packet number). */
  readonly frame: number
  /** Position of the packet in its frame, and the frame's packet count. */
  readonly index: number
  readonly count: number
  /** The publisher's sequence number, unwrapped. */
  readonly useq: number
  readonly keyframe: boolean
}

const MAGIC = 0x5053
export const HEADER_BYTES = 23

export const encodePayload = (info: PayloadInfo, size: number, video: boolean): Uint8Array => {
  const bytes = new Uint8Array(Math.max(HEADER_BYTES, size))
  const view = new DataView(bytes.buffer)
  if (video) {
    // RFC 7741: S bit on a frame's first packet, partition 0; then the inverse key frame bit.
    bytes[0] = info.index === 0 ? 0x10 : 0x00
    bytes[1] = info.keyframe ? 0x00 : 0x01
  } else {
    bytes[0] = 0x78
    bytes[1] = 0x00
  }
  view.setUint16(2, MAGIC)
  view.setUint16(4, info.origin)
  view.setUint16(6, info.session & 0xffff)
  view.setUint8(8, info.track)
  view.setUint8(9, info.layer)
  view.setUint32(10, info.frame >>> 0)
  view.setUint16(14, info.index)
  view.setUint16(16, info.count)
  view.setUint32(18, info.useq >>> 0)
  view.setUint8(22, info.keyframe ? 1 : 0)
  return bytes
}

export const decodePayload = (bytes: Uint8Array): PayloadInfo | undefined => {
  if (bytes.byteLength < HEADER_BYTES) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint16(2) !== MAGIC) return undefined
  return {
    origin: view.getUint16(4),
    session: view.getUint16(6),
    track: view.getUint8(8),
    layer: view.getUint8(9),
    frame: view.getUint32(10),
    index: view.getUint16(14),
    count: view.getUint16(16),
    useq: view.getUint32(18),
    keyframe: view.getUint8(22) === 1
  }
}

/** Identifies one encoded stream: a layer of a track of a client's session. */
export const streamKey = (info: PayloadInfo): string =>
  `${info.origin}.${info.session}/${info.track}/${info.layer}`

/** Identifies one publication: a track of a client's session. */
export const publicationKey = (info: PayloadInfo): string => `${info.origin}.${info.session}/${info.track}`
