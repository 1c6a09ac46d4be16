import type { CodecName } from "./codec.ts"

// Each detector answers: is this the first packet of a frame a decoder can start from?
// All reads are bounds-checked, so arbitrary bytes yield false rather than an exception.

/** RFC 7741 payload descriptor, then the VP8 payload header's inverse key frame bit. */
const isVp8Keyframe = (p: Uint8Array): boolean => {
  if (p.length < 1) return false
  const b0 = p[0]!
  const extended = (b0 & 0x80) !== 0
  const startOfPartition = (b0 & 0x10) !== 0
  const partitionIndex = b0 & 0x07
  if (!startOfPartition || partitionIndex !== 0) return false
  let offset = 1
  if (extended) {
    if (offset >= p.length) return false
    const x = p[offset++]!
    const hasPictureId = (x & 0x80) !== 0
    const hasTl0PicIdx = (x & 0x40) !== 0
    const hasTidOrKeyIdx = (x & 0x30) !== 0
    if (hasPictureId) {
      if (offset >= p.length) return false
      // M bit set means the picture id takes 15 bits over two bytes.
      offset += (p[offset]! & 0x80) !== 0 ? 2 : 1
    }
    if (hasTl0PicIdx) offset += 1
    if (hasTidOrKeyIdx) offset += 1
  }
  if (offset >= p.length) return false
  return (p[offset]! & 0x01) === 0
}

/** VP9 RTP payload descriptor: a non-inter-predicted frame's beginning, in the base spatial layer. */
const isVp9Keyframe = (p: Uint8Array): boolean => {
  if (p.length < 1) return false
  const b0 = p[0]!
  const hasPictureId = (b0 & 0x80) !== 0
  const interPicturePredicted = (b0 & 0x40) !== 0
  const hasLayerIndices = (b0 & 0x20) !== 0
  const flexibleMode = (b0 & 0x10) !== 0
  const beginningOfFrame = (b0 & 0x08) !== 0
  if (interPicturePredicted || !beginningOfFrame) return false
  let offset = 1
  if (hasPictureId) {
    if (offset >= p.length) return false
    offset += (p[offset]! & 0x80) !== 0 ? 2 : 1
  }
  if (hasLayerIndices) {
    if (offset >= p.length) return false
    const spatialId = (p[offset]! >> 1) & 0x07
    if (spatialId !== 0) return false
    // Non-flexible mode carries TL0PICIDX after the layer byte.
    offset += flexibleMode ? 1 : 2
  }
  return offset <= p.length
}

const H264_IDR = 5
const H264_SPS = 7
const H264_STAP_A = 24
const H264_FU_A = 28

const isH264KeyNal = (type: number): boolean => type === H264_IDR || type === H264_SPS

/** RFC 6184: an IDR slice or SPS, alone, inside a STAP-A, or at the start of an FU-A. */
const isH264Keyframe = (p: Uint8Array): boolean => {
  if (p.length < 1) return false
  const type = p[0]! & 0x1f
  if (isH264KeyNal(type)) return true
  if (type === H264_STAP_A) {
    let offset = 1
    while (offset + 2 < p.length) {
      const size = (p[offset]! << 8) | p[offset + 1]!
      offset += 2
      if (size === 0) return false
      if (isH264KeyNal(p[offset]! & 0x1f)) return true
      offset += size
    }
    return false
  }
  if (type === H264_FU_A) {
    if (p.length < 2) return false
    const fuHeader = p[1]!
    const start = (fuHeader & 0x80) !== 0
    return start && isH264KeyNal(fuHeader & 0x1f)
  }
  return false
}

/** AV1 aggregation header: N marks the first packet of a new coded video sequence. */
const isAv1Keyframe = (p: Uint8Array): boolean => p.length >= 1 && (p[0]! & 0x08) !== 0

export const isKeyframe = (codec: CodecName, payload: Uint8Array): boolean => {
  switch (codec) {
    case "VP8":
      return isVp8Keyframe(payload)
    case "VP9":
      return isVp9Keyframe(payload)
    case "H264":
      return isH264Keyframe(payload)
    case "AV1":
      return isAv1Keyframe(payload)
    case "opus":
      return false
  }
}
