import { layersOf, type VideoSpec } from "../clients/media-spec.ts"

/** Opus at 50 packets a second, 80-byte payloads, with RTP, SRTP, UDP and IP: what the audio slot takes. */
export const AUDIO_WIRE_KBPS = ((80 + 12 + 50) * 8 * 50) / 1000
/** Packet overhead and keyframes on top of a layer's nominal rate. */
export const LAYER_OVERHEAD = 1.15

export interface LayerRate {
  /** Index in the publisher's layer list (0 is the top layer). */
  readonly layer: number
  readonly rid: string | undefined
  readonly kbps: number
}

/** The layers of a video publication, top first. */
export const layerRates = (spec: VideoSpec): LayerRate[] =>
  layersOf(spec).map((l, layer) => ({ layer, rid: l.rid, kbps: l.bitrateKbps }))

/** A layer fits a downlink when it and the audio slot go through it with headroom for overhead. */
export const fits = (kbps: number, capacityKbps: number | undefined): boolean =>
  capacityKbps === undefined || kbps * LAYER_OVERHEAD + AUDIO_WIRE_KBPS <= capacityKbps

/** The best layer that fits, or undefined when not even the lowest does. */
export const bestFitting = (
  layers: ReadonlyArray<LayerRate>,
  capacityKbps: number | undefined
): LayerRate | undefined =>
  [...layers].sort((a, b) => b.kbps - a.kbps).find((l) => fits(l.kbps, capacityKbps))

export const lowest = (layers: ReadonlyArray<LayerRate>): LayerRate =>
  [...layers].sort((a, b) => a.kbps - b.kbps)[0]!
