import { BitReader } from "./bit-reader.ts"
import type { CodecName } from "./codec.ts"

export interface FrameSize {
  readonly width: number
  readonly height: number
}

/** Larger than any encoder WebRTC uses; anything bigger is garbage, not a resolution. */
const MAX_DIMENSION = 16384

const sized = (width: number, height: number): FrameSize | undefined =>
  Number.isInteger(width) &&
  Number.isInteger(height) &&
  width > 0 &&
  height > 0 &&
  width <= MAX_DIMENSION &&
  height <= MAX_DIMENSION
    ? { width, height }
    : undefined

// ---------------------------------------------------------------- VP8 (RFC 7741, RFC 6386 9.1)

/** Offset of the VP8 payload after the RTP payload descriptor, or -1. */
const vp8PayloadOffset = (p: Uint8Array): number => {
  if (p.length < 1) return -1
  const b0 = p[0]!
  if ((b0 & 0x10) === 0 || (b0 & 0x07) !== 0) return -1 // not the start of partition 0
  let offset = 1
  if ((b0 & 0x80) !== 0) {
    if (offset >= p.length) return -1
    const x = p[offset++]!
    if ((x & 0x80) !== 0) {
      if (offset >= p.length) return -1
      offset += (p[offset]! & 0x80) !== 0 ? 2 : 1
    }
    if ((x & 0x40) !== 0) offset += 1
    if ((x & 0x30) !== 0) offset += 1
  }
  return offset
}

const vp8FrameSize = (p: Uint8Array): FrameSize | undefined => {
  const o = vp8PayloadOffset(p)
  // 3-byte frame tag, 3-byte start code, then 14-bit little-endian width and height (2 scale bits each).
  if (o < 0 || o + 10 > p.length) return undefined
  if ((p[o]! & 0x01) !== 0) return undefined // inter frame: no size
  if (p[o + 3] !== 0x9d || p[o + 4] !== 0x01 || p[o + 5] !== 0x2a) return undefined
  const width = (p[o + 6]! | (p[o + 7]! << 8)) & 0x3fff
  const height = (p[o + 8]! | (p[o + 9]! << 8)) & 0x3fff
  return sized(width, height)
}

// ---------------------------------------------------------------- VP9 (RFC 9628, VP9 bitstream spec 6.2)

const VP9_SYNC_CODE = 0x498342
const VP9_CS_RGB = 7

const vp9UncompressedHeaderSize = (p: Uint8Array, offset: number): FrameSize | undefined => {
  const r = new BitReader(p, offset)
  if (r.bits(2) !== 2) return undefined // frame_marker
  const profileLow = r.bit()
  const profile = (r.bit() << 1) | profileLow
  if (profile === 3) r.skip(1)
  if (r.bit() === 1) return undefined // show_existing_frame: no header of its own
  if (r.bit() !== 0) return undefined // frame_type: only key frames carry the size this way
  r.skip(2) // show_frame, error_resilient_mode
  if (r.bits(24) !== VP9_SYNC_CODE) return undefined
  if (profile >= 2) r.skip(1) // ten_or_twelve_bit
  const colorSpace = r.bits(3)
  if (colorSpace !== VP9_CS_RGB) {
    r.skip(1) // color_range
    if (profile === 1 || profile === 3) r.skip(3) // subsampling_x, subsampling_y, reserved
  } else if (profile === 1 || profile === 3) {
    r.skip(1)
  }
  const width = r.bits(16) + 1
  const height = r.bits(16) + 1
  return r.overrun ? undefined : sized(width, height)
}

const vp9FrameSize = (p: Uint8Array): FrameSize | undefined => {
  if (p.length < 1) return undefined
  const b0 = p[0]!
  const hasPictureId = (b0 & 0x80) !== 0
  const interPredicted = (b0 & 0x40) !== 0
  const hasLayerIndices = (b0 & 0x20) !== 0
  const flexible = (b0 & 0x10) !== 0
  const beginningOfFrame = (b0 & 0x08) !== 0
  const hasScalabilityStructure = (b0 & 0x02) !== 0
  let offset = 1
  if (hasPictureId) {
    if (offset >= p.length) return undefined
    offset += (p[offset]! & 0x80) !== 0 ? 2 : 1
  }
  if (hasLayerIndices) offset += flexible ? 1 : 2
  if (flexible && interPredicted) {
    // up to three P_DIFF bytes, each with a "another follows" bit
    for (let i = 0; i < 3; i++) {
      if (offset >= p.length) return undefined
      if ((p[offset++]! & 0x01) === 0) break
    }
  }
  if (hasScalabilityStructure) {
    if (offset >= p.length) return undefined
    const ss = p[offset++]!
    const spatialLayers = (ss >> 5) + 1
    const hasResolutions = (ss & 0x10) !== 0
    if (hasResolutions) {
      // The stream's full resolution is its highest spatial layer's, listed last.
      const last = offset + (spatialLayers - 1) * 4
      if (last + 4 > p.length) return undefined
      return sized((p[last]! << 8) | p[last + 1]!, (p[last + 2]! << 8) | p[last + 3]!)
    }
    if ((ss & 0x08) !== 0) {
      if (offset >= p.length) return undefined
      const groups = p[offset++]!
      for (let i = 0; i < groups; i++) {
        if (offset >= p.length) return undefined
        offset += 1 + ((p[offset]! >> 2) & 0x03)
      }
    }
  }
  if (!beginningOfFrame || interPredicted || offset >= p.length) return undefined
  return vp9UncompressedHeaderSize(p, offset)
}

// ---------------------------------------------------------------- H.264 (RFC 6184, ITU-T H.264 7.3.2.1.1)

const H264_SPS = 7
const H264_STAP_A = 24
const H264_FU_A = 28
/** Profiles whose SPS carries chroma format, bit depths and scaling matrices. */
const H264_HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135])

/** The RBSP of a NAL unit (after its header byte), emulation prevention bytes removed. */
const rbsp = (nal: Uint8Array): Uint8Array => {
  const out = new Uint8Array(nal.length)
  let n = 0
  let zeros = 0
  for (let i = 1; i < nal.length; i++) {
    const b = nal[i]!
    if (zeros >= 2 && b === 0x03) {
      zeros = 0
      continue
    }
    zeros = b === 0 ? zeros + 1 : 0
    out[n++] = b
  }
  return out.subarray(0, n)
}

const skipScalingList = (r: BitReader, size: number): void => {
  let last = 8
  let next = 8
  for (let j = 0; j < size && !r.overrun; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256
    if (next !== 0) last = next
  }
}

/** Width and height from an SPS NAL unit (header byte included). */
export const h264SpsFrameSize = (nal: Uint8Array): FrameSize | undefined => {
  if (nal.length < 4 || (nal[0]! & 0x1f) !== H264_SPS) return undefined
  const r = new BitReader(rbsp(nal))
  const profile = r.bits(8)
  r.skip(16) // constraint flags, level_idc
  r.ue() // seq_parameter_set_id
  let chromaFormat = 1
  let separateColourPlane = false
  if (H264_HIGH_PROFILES.has(profile)) {
    chromaFormat = r.ue()
    if (chromaFormat > 3) return undefined
    if (chromaFormat === 3) separateColourPlane = r.bit() === 1
    r.ue() // bit_depth_luma_minus8
    r.ue() // bit_depth_chroma_minus8
    r.skip(1) // qpprime_y_zero_transform_bypass_flag
    if (r.bit() === 1) {
      const lists = chromaFormat === 3 ? 12 : 8
      for (let i = 0; i < lists && !r.overrun; i++) if (r.bit() === 1) skipScalingList(r, i < 6 ? 16 : 64)
    }
  }
  r.ue() // log2_max_frame_num_minus4
  const pocType = r.ue()
  if (pocType === 0) {
    r.ue() // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    r.skip(1) // delta_pic_order_always_zero_flag
    r.se() // offset_for_non_ref_pic
    r.se() // offset_for_top_to_bottom_field
    const cycle = r.ue()
    if (cycle > 255) return undefined
    for (let i = 0; i < cycle && !r.overrun; i++) r.se()
  } else if (pocType !== 2) {
    return undefined
  }
  r.ue() // max_num_ref_frames
  r.skip(1) // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = r.ue() + 1
  const heightInMapUnits = r.ue() + 1
  const frameMbsOnly = r.bit()
  if (frameMbsOnly === 0) r.skip(1) // mb_adaptive_frame_field_flag
  r.skip(1) // direct_8x8_inference_flag
  let crop = { left: 0, right: 0, top: 0, bottom: 0 }
  if (r.bit() === 1) crop = { left: r.ue(), right: r.ue(), top: r.ue(), bottom: r.ue() }
  if (r.overrun) return undefined
  const chromaArrayType = separateColourPlane ? 0 : chromaFormat
  const subWidth = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1
  const subHeight = chromaArrayType === 1 ? 2 : 1
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidth
  const cropUnitY = (chromaArrayType === 0 ? 1 : subHeight) * (2 - frameMbsOnly)
  const width = widthInMbs * 16 - cropUnitX * (crop.left + crop.right)
  const height = (2 - frameMbsOnly) * heightInMapUnits * 16 - cropUnitY * (crop.top + crop.bottom)
  return sized(width, height)
}

const h264FrameSize = (p: Uint8Array): FrameSize | undefined => {
  if (p.length < 1) return undefined
  const type = p[0]! & 0x1f
  if (type === H264_SPS) return h264SpsFrameSize(p)
  if (type === H264_STAP_A) {
    let offset = 1
    while (offset + 2 < p.length) {
      const size = (p[offset]! << 8) | p[offset + 1]!
      offset += 2
      if (size === 0 || offset + size > p.length) return undefined
      if ((p[offset]! & 0x1f) === H264_SPS) return h264SpsFrameSize(p.subarray(offset, offset + size))
      offset += size
    }
    return undefined
  }
  if (type === H264_FU_A && p.length > 2) {
    const fuHeader = p[1]!
    if ((fuHeader & 0x80) === 0 || (fuHeader & 0x1f) !== H264_SPS) return undefined
    const nal = new Uint8Array(p.length - 1)
    nal[0] = (p[0]! & 0xe0) | (fuHeader & 0x1f)
    nal.set(p.subarray(2), 1)
    return h264SpsFrameSize(nal)
  }
  return undefined
}

// ---------------------------------------------------------------- AV1 (AV1 RTP spec 4.4, AV1 spec 5.5)

const AV1_OBU_SEQUENCE_HEADER = 1

interface Leb128 {
  readonly value: number
  readonly next: number
}

const leb128 = (p: Uint8Array, offset: number): Leb128 | undefined => {
  let value = 0
  for (let i = 0; i < 8; i++) {
    if (offset + i >= p.length) return undefined
    const b = p[offset + i]!
    value += (b & 0x7f) * 2 ** (7 * i)
    if ((b & 0x80) === 0) return { value, next: offset + i + 1 }
  }
  return undefined
}

/** Width and height from a sequence header OBU's payload (after the OBU header). */
const av1SequenceHeaderSize = (p: Uint8Array): FrameSize | undefined => {
  const r = new BitReader(p)
  r.skip(4) // seq_profile, still_picture
  const reducedStillPictureHeader = r.bit() === 1
  if (reducedStillPictureHeader) {
    r.skip(5) // seq_level_idx[0]
  } else {
    let decoderModelInfoPresent = false
    let bufferDelayLength = 0
    if (r.bit() === 1) {
      // timing_info
      r.skip(64) // num_units_in_display_tick, time_scale
      if (r.bit() === 1) r.uvlc() // equal_picture_interval: num_ticks_per_picture_minus_1
      decoderModelInfoPresent = r.bit() === 1
      if (decoderModelInfoPresent) {
        bufferDelayLength = r.bits(5) + 1
        r.skip(32 + 5 + 5) // num_units_in_decoding_tick, buffer_removal_time_length, frame_presentation_time_length
      }
    }
    const initialDisplayDelayPresent = r.bit() === 1
    const operatingPoints = r.bits(5) + 1
    for (let i = 0; i < operatingPoints && !r.overrun; i++) {
      r.skip(12) // operating_point_idc
      if (r.bits(5) > 7) r.skip(1) // seq_level_idx, then seq_tier
      if (decoderModelInfoPresent && r.bit() === 1) r.skip(2 * bufferDelayLength + 1)
      if (initialDisplayDelayPresent && r.bit() === 1) r.skip(4)
    }
  }
  const widthBits = r.bits(4) + 1
  const heightBits = r.bits(4) + 1
  const width = r.bits(widthBits) + 1
  const height = r.bits(heightBits) + 1
  return r.overrun ? undefined : sized(width, height)
}

const av1FrameSize = (p: Uint8Array): FrameSize | undefined => {
  if (p.length < 2) return undefined
  const aggregation = p[0]!
  const continuesPrevious = (aggregation & 0x80) !== 0
  const elementCount = (aggregation >> 4) & 0x03
  let offset = 1
  for (let i = 0; offset < p.length; i++) {
    let length: number
    if (elementCount !== 0 && i === elementCount - 1) {
      length = p.length - offset
    } else {
      const l = leb128(p, offset)
      if (!l) return undefined
      length = l.value
      offset = l.next
    }
    if (length <= 0 || offset + length > p.length) return undefined
    const element = p.subarray(offset, offset + length)
    offset += length
    if (i === 0 && continuesPrevious) continue
    const header = element[0]!
    if (((header >> 3) & 0x0f) !== AV1_OBU_SEQUENCE_HEADER) continue
    let start = (header & 0x04) !== 0 ? 2 : 1
    let end = element.length
    if ((header & 0x02) !== 0) {
      const size = leb128(element, start)
      if (!size) return undefined
      start = size.next
      end = Math.min(end, start + size.value)
    }
    if (start >= end) return undefined
    return av1SequenceHeaderSize(element.subarray(start, end))
  }
  return undefined
}

/**
 * The picture size announced by a keyframe's first RTP packet (the payload after the RTP
 * header), or undefined when this packet does not carry it or is malformed. Every read is
 * bounds-checked, so arbitrary bytes never throw.
 */
export const frameSize = (codec: CodecName, payload: Uint8Array): FrameSize | undefined => {
  switch (codec) {
    case "VP8":
      return vp8FrameSize(payload)
    case "VP9":
      return vp9FrameSize(payload)
    case "H264":
      return h264FrameSize(payload)
    case "AV1":
      return av1FrameSize(payload)
    case "opus":
      return undefined
  }
}
