/**
 * What a simulated publisher puts in each RTP payload: a real codec header first (for
 * video a VP8 payload descriptor and frame tag, and on a keyframe's first packet the
 * keyframe start code with the frame's width and height, RFC 6386 9.1), so the server's
 * keyframe detection and a frame-size parser work as on real traffic; then where the
 * packet comes from, which the subscribers and the oracles read back.
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

/** Frame dimensions, written into a video keyframe's VP8 header. */
export interface FrameSize {
  readonly width: number
  readonly height: number
}

const MAGIC = 0x5053
/** Room for the codec header: VP8 payload descriptor (1), frame tag (3), start code (3), width and height (4). */
const CODEC_BYTES = 11
const INFO = CODEC_BYTES
export const HEADER_BYTES = INFO + 21

const writeVp8Header = (bytes: Uint8Array, info: PayloadInfo, size: FrameSize | undefined): void => {
  // RFC 7741 descriptor: S bit on a frame's first packet, partition 0, no extensions.
  bytes[0] = info.index === 0 ? 0x10 : 0x00
  if (info.index !== 0) {
    bytes[1] = info.keyframe ? 0x00 : 0x01
    return
  }
  // RFC 6386 frame tag: inverse key frame bit, version 0, show_frame, first partition size (kept small).
  const firstPartitionSize = 64
  bytes[1] = (info.keyframe ? 0x00 : 0x01) | 0x10 | ((firstPartitionSize & 0x7) << 5)
  bytes[2] = (firstPartitionSize >> 3) & 0xff
  bytes[3] = (firstPartitionSize >> 11) & 0xff
  if (!info.keyframe || size === undefined) return
  bytes[4] = 0x9d
  bytes[5] = 0x01
  bytes[6] = 0x2a
  // 14-bit dimensions, little-endian, no scaling.
  bytes[7] = size.width & 0xff
  bytes[8] = (size.width >> 8) & 0x3f
  bytes[9] = size.height & 0xff
  bytes[10] = (size.height >> 8) & 0x3f
}

export const encodePayload = (
  info: PayloadInfo,
  size: number,
  video: boolean,
  frameSize?: FrameSize
): Uint8Array => {
  const bytes = new Uint8Array(Math.max(HEADER_BYTES, size))
  const view = new DataView(bytes.buffer)
  if (video) writeVp8Header(bytes, info, frameSize)
  else {
    // An Opus TOC byte (SILK wideband, 20 ms, one frame).
    bytes[0] = 0x78
  }
  view.setUint16(INFO, MAGIC)
  view.setUint16(INFO + 2, info.origin)
  view.setUint16(INFO + 4, info.session & 0xffff)
  view.setUint8(INFO + 6, info.track)
  view.setUint8(INFO + 7, info.layer)
  view.setUint32(INFO + 8, info.frame >>> 0)
  view.setUint16(INFO + 12, info.index)
  view.setUint16(INFO + 14, info.count)
  view.setUint32(INFO + 16, info.useq >>> 0)
  view.setUint8(INFO + 20, info.keyframe ? 1 : 0)
  return bytes
}

export const decodePayload = (bytes: Uint8Array): PayloadInfo | undefined => {
  if (bytes.byteLength < HEADER_BYTES) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint16(INFO) !== MAGIC) return undefined
  return {
    origin: view.getUint16(INFO + 2),
    session: view.getUint16(INFO + 4),
    track: view.getUint8(INFO + 6),
    layer: view.getUint8(INFO + 7),
    frame: view.getUint32(INFO + 8),
    index: view.getUint16(INFO + 12),
    count: view.getUint16(INFO + 14),
    useq: view.getUint32(INFO + 16),
    keyframe: view.getUint8(INFO + 20) === 1
  }
}

/** The width and height in a VP8 keyframe's first packet (as a receiver's frame-size parser reads them). */
export const readVp8KeyframeSize = (bytes: Uint8Array): FrameSize | undefined => {
  if (bytes.byteLength < CODEC_BYTES || (bytes[0]! & 0x10) === 0 || (bytes[1]! & 0x01) !== 0) return undefined
  if (bytes[4] !== 0x9d || bytes[5] !== 0x01 || bytes[6] !== 0x2a) return undefined
  return {
    width: bytes[7]! | ((bytes[8]! & 0x3f) << 8),
    height: bytes[9]! | ((bytes[10]! & 0x3f) << 8)
  }
}

/** Identifies one encoded stream: a layer of a track of a client's session. */
export const streamKey = (info: PayloadInfo): string =>
  `${info.origin}.${info.session}/${info.track}/${info.layer}`

/** Identifies one publication: a track of a client's session. */
export const publicationKey = (info: PayloadInfo): string => `${info.origin}.${info.session}/${info.track}`
