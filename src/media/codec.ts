export type VideoCodecName = "VP8" | "VP9" | "H264" | "AV1"
export type CodecName = VideoCodecName | "opus"

const byMimeType: ReadonlyMap<string, CodecName> = new Map<string, CodecName>([
  ["video/vp8", "VP8"],
  ["video/vp9", "VP9"],
  ["video/h264", "H264"],
  ["video/av1", "AV1"],
  // Older Chrome advertised AV1 under its experimental name.
  ["video/av1x", "AV1"],
  ["audio/opus", "opus"]
])

/** Maps an SDP/WebRTC MIME type (case-insensitive) to a codec the SFU understands. */
export const codecFromMimeType = (mime: string): CodecName | undefined =>
  byMimeType.get(mime.trim().toLowerCase())

export const isVideoCodec = (codec: CodecName): codec is VideoCodecName => codec !== "opus"

/** RTP clock rate fixed by each codec's payload format. */
export const clockRateOf = (codec: CodecName): number => (codec === "opus" ? 48_000 : 90_000)
