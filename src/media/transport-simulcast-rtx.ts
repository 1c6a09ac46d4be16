/**
 * Retransmissions of simulcast layers (RFC 4588 RTX). Their SSRC is in no SDP: a sender names
 * the layer with the repaired-rtp-stream-id header extension. This maps each RTX packet to its
 * layer (by mid and repaired rid, later also by its SSRC), and unwraps it into the media
 * packet it repairs: the original sequence number is the first two payload bytes, the SSRC
 * that of the layer's media stream.
 */

export interface RtxPublication {
  readonly mid: string
  /** Simulcast rids; a publication without them is not handled here. */
  readonly rids: ReadonlyArray<string>
  readonly codecs: ReadonlyArray<{
    readonly payloadType: number
    readonly rtxPayloadType: number | undefined
  }>
}

export interface RtxPacket {
  readonly ssrc: number
  readonly payloadType: number
  readonly payload: Uint8Array
  /** The mid header extension, when the packet carries it. */
  readonly mid: string | undefined
  /** The repaired-rtp-stream-id header extension, when the packet carries it. */
  readonly repairedRid: string | undefined
}

export type RtxUnwrap =
  | {
      readonly _tag: "Media"
      readonly mid: string
      readonly rid: string
      readonly ssrc: number
      readonly payloadType: number
      readonly sequenceNumber: number
      readonly payload: Uint8Array
    }
  /** Padding-only RTX (bandwidth probes): nothing to repair. */
  | { readonly _tag: "Padding" }
  | { readonly _tag: "Unmapped" }

interface Layer {
  readonly publication: RtxPublication
  readonly rid: string
}

const MAX_RTX_SSRCS = 64
const layerKey = (mid: string, rid: string) => `${mid}\u0000${rid}`

export class SimulcastRtxIngress {
  readonly #publications: ReadonlyArray<RtxPublication>
  readonly #rtxPayloadTypes = new Set<number>()
  readonly #mediaSsrc = new Map<string, number>()
  readonly #layerOfRtxSsrc = new Map<number, Layer>()
  /** RTX packets that named no known layer, or whose layer's media SSRC is not known yet. */
  unmapped = 0
  /** Padding-only RTX packets. */
  padding = 0

  constructor(publications: ReadonlyArray<RtxPublication>) {
    this.#publications = publications.filter((p) => p.rids.length > 0)
    for (const publication of this.#publications) {
      for (const codec of publication.codecs) {
        if (codec.rtxPayloadType !== undefined) this.#rtxPayloadTypes.add(codec.rtxPayloadType)
      }
    }
  }

  /** Whether a packet with this payload type may be a simulcast retransmission. */
  handles(payloadType: number): boolean {
    return this.#rtxPayloadTypes.has(payloadType)
  }

  /** Learns a layer's media SSRC from its media packets. */
  learnLayer(mid: string, rid: string, ssrc: number): void {
    this.#mediaSsrc.set(layerKey(mid, rid), ssrc)
  }

  unwrap(packet: RtxPacket): RtxUnwrap {
    const layer = this.#layerOf(packet)
    const codec = layer?.publication.codecs.find((c) => c.rtxPayloadType === packet.payloadType)
    if (!layer || !codec) {
      this.unmapped++
      return { _tag: "Unmapped" }
    }
    if (packet.payload.length < 2) {
      this.padding++
      return { _tag: "Padding" }
    }
    const ssrc = this.#mediaSsrc.get(layerKey(layer.publication.mid, layer.rid))
    if (ssrc === undefined) {
      this.unmapped++
      return { _tag: "Unmapped" }
    }
    return {
      _tag: "Media",
      mid: layer.publication.mid,
      rid: layer.rid,
      ssrc,
      payloadType: codec.payloadType,
      sequenceNumber: (packet.payload[0]! << 8) | packet.payload[1]!,
      payload: packet.payload.subarray(2)
    }
  }

  #layerOf(packet: RtxPacket): Layer | undefined {
    const rid = packet.repairedRid
    if (rid === undefined) return this.#layerOfRtxSsrc.get(packet.ssrc)
    const candidates = this.#publications.filter(
      (p) => p.rids.includes(rid) && (packet.mid === undefined || p.mid === packet.mid)
    )
    if (candidates.length !== 1) return undefined
    const layer = { publication: candidates[0]!, rid }
    if (!this.#layerOfRtxSsrc.has(packet.ssrc)) {
      if (this.#layerOfRtxSsrc.size >= MAX_RTX_SSRCS) this.#layerOfRtxSsrc.clear()
      this.#layerOfRtxSsrc.set(packet.ssrc, layer)
    }
    return layer
  }
}
