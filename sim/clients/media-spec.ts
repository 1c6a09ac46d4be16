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
  /** Frame size of the top layer (each simulcast layer below halves it). */
  readonly width: number
  readonly height: number
  /** A keyframe is this many times the size of a delta frame. */
  readonly keyframeSizeFactor: number
  /** Explicit simulcast layers, top first; without them the layers are f, h, q at SIMULCAST_LAYERS shares. */
  readonly layers: ReadonlyArray<LayerSpec> | undefined
  /** A stopped layer that starts again begins with a keyframe (real encoders do). */
  readonly keyframeOnResume: boolean
}

/** One simulcast layer: its rid, its target rate and its frame size. */
export interface LayerSpec {
  readonly rid: string
  readonly bitrateKbps: number
  readonly width: number
  readonly height: number
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
  width: 1280,
  height: 720,
  keyframeSizeFactor: 4,
  layers: undefined,
  keyframeOnResume: false,
  ...options
})

export const simulcastVideo = (options: Partial<Omit<VideoSpec, "kind" | "simulcast">> = {}): VideoSpec =>
  video({ bitrateKbps: 1200, ...options, simulcast: true })

export const SIMULCAST_LAYERS: ReadonlyArray<{ readonly rid: string; readonly share: number }> = [
  { rid: "f", share: 1 },
  { rid: "h", share: 0.4 },
  { rid: "q", share: 0.15 }
]

/**
 * What a browser sends for a 720p camera: f 1.5 Mbit/s 1280x720, h 500 kbit/s 640x360,
 * q 150 kbit/s 320x180, at 30 fps, keyframes only at start and on request, each about
 * eight delta frames in size.
 */
export const REALISTIC_LAYERS: ReadonlyArray<LayerSpec> = [
  { rid: "f", bitrateKbps: 1500, width: 1280, height: 720 },
  { rid: "h", bitrateKbps: 500, width: 640, height: 360 },
  { rid: "q", bitrateKbps: 150, width: 320, height: 180 }
]

export const realisticSimulcast = (
  options: Partial<Omit<VideoSpec, "kind" | "simulcast" | "layers">> = {}
): VideoSpec =>
  video({
    bitrateKbps: REALISTIC_LAYERS[0]!.bitrateKbps,
    fps: 30,
    keyframeIntervalMs: 0,
    keyframeSizeFactor: 8,
    keyframeOnResume: true,
    ...options,
    simulcast: true,
    layers: REALISTIC_LAYERS
  })

/** The streams a video spec sends, top first: one per simulcast layer, or one without a rid. */
export const layersOf = (
  spec: VideoSpec
): ReadonlyArray<Omit<LayerSpec, "rid"> & { readonly rid: string | undefined }> => {
  if (!spec.simulcast)
    return [{ rid: undefined, bitrateKbps: spec.bitrateKbps, width: spec.width, height: spec.height }]
  if (spec.layers) return spec.layers
  return SIMULCAST_LAYERS.map((layer, index) => ({
    rid: layer.rid,
    bitrateKbps: spec.bitrateKbps * layer.share,
    width: Math.round(spec.width / 2 ** index),
    height: Math.round(spec.height / 2 ** index)
  }))
}
