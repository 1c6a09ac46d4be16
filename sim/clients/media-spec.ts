/** What a simulated client publishes. */

export interface AudioSpec {
  readonly kind: "audio"
  /** Opus payload bytes per 20 ms packet. */
  readonly packetBytes: number
}

export interface VideoSpec {
  /** Always VP8: the payloads carry a VP8 payload descriptor. */
  readonly kind: "video"
  /** Bitrate of the top layer. */
  readonly bitrateKbps: number
  readonly fps: number
  /** Periodic keyframes; 0 sends them only at start and on request, as WebRTC encoders do. */
  readonly keyframeIntervalMs: number
  /** Send three simulcast layers (full, half, quarter) with rids f, h, q. */
  readonly simulcast: boolean
}

export type TrackSpec = AudioSpec | VideoSpec

export const audio = (options: Partial<Omit<AudioSpec, "kind">> = {}): AudioSpec => ({
  kind: "audio",
  packetBytes: 80,
  ...options
})

export const video = (options: Partial<Omit<VideoSpec, "kind">> = {}): VideoSpec => ({
  kind: "video",
  bitrateKbps: 400,
  fps: 15,
  keyframeIntervalMs: 4000,
  simulcast: false,
  ...options
})

export const simulcastVideo = (options: Partial<Omit<VideoSpec, "kind" | "simulcast">> = {}): VideoSpec =>
  video({ bitrateKbps: 1200, ...options, simulcast: true })

export const SIMULCAST_LAYERS: ReadonlyArray<{ readonly rid: string; readonly share: number }> = [
  { rid: "f", share: 1 },
  { rid: "h", share: 0.4 },
  { rid: "q", share: 0.15 }
]
