import type { CodecName } from "./codec.ts"
import { frameSize } from "./frame-size.ts"
import { RTP_HEADER_BYTES, TRANSPORT_OVERHEAD_BYTES } from "./packet-overhead.ts"
import { tsDiff } from "./sequence-number.ts"

/** What is known about one simulcast layer (one SSRC) of a published video track. */
export interface LayerInfo {
  readonly ssrc: number
  readonly rid: string | undefined
  /** From the layer's latest keyframe that announced a size; undefined until one did. */
  readonly width: number | undefined
  readonly height: number | undefined
  /** Distinct RTP timestamps per second over the last second. */
  readonly fps: number
  /**
   * What forwarding this layer costs a subscriber's link, over the last second: payload plus
   * RTP, UDP/IP and SRTP overhead (`packet-overhead.ts`), with each keyframe counted as an average frame of the layer so that a
   * keyframe burst does not look like a rate change.
   */
  readonly bitrateBps: number
  /**
   * Sent a packet within the last `FLOWING_MS`, or within `STOPPED_LAYER_MS` while another
   * layer of the track still flows: a publisher's encoder pauses layers when its uplink is
   * short, and subscribers should move off such a layer at once, where a whole track that
   * falls silent is more likely a hiccup of the publisher's uplink.
   */
  readonly flowing: boolean
}

/** The parts of an inbound RTP packet the monitor reads. */
export interface MonitoredPacket {
  readonly ssrc: number
  readonly rid: string | undefined
  readonly timestamp: number
  readonly payload: Uint8Array
}

export const FLOWING_MS = 1500
/** A layer silent this long while another layer of its track is not has stopped. */
export const STOPPED_LAYER_MS = 500
/** ...and at least this many of its own frame intervals (a 2 fps layer gets 1.5 s). */
const STOPPED_FRAME_INTERVALS = 3
const BUCKET_MS = 100
const BUCKETS = 10
/** Rates of a layer younger than this are averaged over this much, so one early burst is not a huge rate. */
const MIN_WINDOW_MS = 500
/** Carried by every packet on the subscriber's link besides the payload. */
const PACKET_OVERHEAD_BYTES = RTP_HEADER_BYTES + TRANSPORT_OVERHEAD_BYTES
/** A track has a handful of layers; SSRCs beyond this evict the longest silent one. */
const MAX_LAYERS = 8
/** Layers ordered by bitrate keep their order until a lower one is this much above a higher one. */
const REORDER_FACTOR = 1.25

class LayerStats {
  readonly bytes = new Float64Array(BUCKETS)
  readonly keyframeBytes = new Float64Array(BUCKETS)
  readonly frames = new Float64Array(BUCKETS)
  readonly keyframes = new Float64Array(BUCKETS)
  readonly epochs = new Float64Array(BUCKETS).fill(Number.NEGATIVE_INFINITY)
  rid: string | undefined
  width: number | undefined
  height: number | undefined
  lastTimestamp: number | undefined
  keyframeTimestamp: number | undefined
  /** Last non-zero bitrate measured over a full window, used to order layers (also paused ones). */
  lastKnownBitrate = 0

  constructor(
    readonly ssrc: number,
    readonly firstPacketMs: number,
    public lastPacketMs: number,
    readonly seenOrder: number
  ) {}

  add(packet: MonitoredPacket, codec: CodecName, keyframe: boolean, nowMs: number): void {
    const epoch = Math.floor(nowMs / BUCKET_MS)
    const slot = ((epoch % BUCKETS) + BUCKETS) % BUCKETS
    if (this.epochs[slot] !== epoch) {
      this.epochs[slot] = epoch
      this.bytes[slot] = 0
      this.keyframeBytes[slot] = 0
      this.frames[slot] = 0
      this.keyframes[slot] = 0
    }
    if (nowMs > this.lastPacketMs) this.lastPacketMs = nowMs
    const newFrame = this.lastTimestamp === undefined || tsDiff(packet.timestamp, this.lastTimestamp) > 0
    if (newFrame) {
      this.lastTimestamp = packet.timestamp
      this.frames[slot]! += 1
    }
    if (keyframe && packet.timestamp === this.lastTimestamp && this.keyframeTimestamp !== packet.timestamp) {
      this.keyframeTimestamp = packet.timestamp
      this.keyframes[slot]! += 1
    }
    const size = packet.payload.byteLength + PACKET_OVERHEAD_BYTES
    this.bytes[slot]! += size
    if (packet.timestamp === this.keyframeTimestamp) this.keyframeBytes[slot]! += size
    if (keyframe) {
      const announced = frameSize(codec, packet.payload)
      if (announced) {
        this.width = announced.width
        this.height = announced.height
      }
    }
  }

  /** @param trackNewestMs when the track's newest packet (of any layer) arrived */
  info(nowMs: number, trackNewestMs: number): LayerInfo {
    const epoch = Math.floor(nowMs / BUCKET_MS)
    let bytes = 0
    let keyframeBytes = 0
    let frames = 0
    let keyframes = 0
    for (let i = 0; i < BUCKETS; i++) {
      const age = epoch - this.epochs[i]!
      if (age < 0 || age >= BUCKETS) continue
      bytes += this.bytes[i]!
      keyframeBytes += this.keyframeBytes[i]!
      frames += this.frames[i]!
      keyframes += this.keyframes[i]!
    }
    const windowStart = (epoch - BUCKETS + 1) * BUCKET_MS
    const windowMs = Math.max(MIN_WINDOW_MS, nowMs - Math.max(windowStart, this.firstPacketMs))
    const deltaFrames = frames - keyframes
    // A keyframe is several times a delta frame: count it as an average frame of this layer.
    const steadyBytes =
      keyframes > 0 && deltaFrames > 0
        ? bytes - keyframeBytes + (keyframes * (bytes - keyframeBytes)) / deltaFrames
        : bytes
    const bitrateBps = Math.round((steadyBytes * 8000) / windowMs)
    if (bitrateBps > 0 && nowMs - this.firstPacketMs >= BUCKETS * BUCKET_MS)
      this.lastKnownBitrate = bitrateBps
    return {
      ssrc: this.ssrc,
      rid: this.rid,
      width: this.width,
      height: this.height,
      fps: (frames * 1000) / windowMs,
      bitrateBps,
      flowing: this.flowing(nowMs, trackNewestMs, frames / windowMs)
    }
  }

  /** @param framesPerMs the layer's recent frame rate: a slow layer (screen content) gets longer before it counts as stopped */
  private flowing(nowMs: number, trackNewestMs: number, framesPerMs: number): boolean {
    const silentMs = nowMs - this.lastPacketMs
    if (silentMs >= FLOWING_MS) return false
    const stoppedAfterMs =
      framesPerMs > 0 ? Math.max(STOPPED_LAYER_MS, STOPPED_FRAME_INTERVALS / framesPerMs) : FLOWING_MS
    const othersFlow = trackNewestMs - this.lastPacketMs >= STOPPED_LAYER_MS / 2
    return silentMs < stoppedAfterMs || !othersFlow
  }
}

/**
 * Watches the layers of one published video track: per layer its rate, frame rate,
 * resolution and whether it flows, and an ordering from lowest to highest quality that
 * stays put while the layers do: by resolution once every layer announced one, else by
 * bitrate once every layer was measured for a full second, else by the order of the rids
 * (or, without rids, of the SIM group's SSRCs) the offer declared, lowest first, else in the
 * order the layers appeared.
 */
export class LayerMonitor {
  private readonly stats = new Map<number, LayerStats>()
  private readonly ridRank: ReadonlyMap<string, number>
  private readonly ssrcRank: ReadonlyMap<number, number>
  private order: ReadonlyArray<number> = []
  private seen = 0

  constructor(ridsLowToHigh: ReadonlyArray<string> = [], ssrcsLowToHigh: ReadonlyArray<number> = []) {
    this.ridRank = new Map(ridsLowToHigh.map((rid, index) => [rid, index]))
    this.ssrcRank = new Map(ssrcsLowToHigh.map((ssrc, index) => [ssrc, index]))
  }

  onPacket(packet: MonitoredPacket, codec: CodecName, keyframe: boolean, nowMs: number): void {
    let layer = this.stats.get(packet.ssrc)
    if (!layer) {
      layer = new LayerStats(packet.ssrc, nowMs, nowMs, this.seen++)
      this.stats.set(packet.ssrc, layer)
      if (this.stats.size > MAX_LAYERS) this.evictLongestSilent()
    }
    // libwebrtc stops sending the rid extension once the SSRC is known, so a layer keeps its rid.
    if (packet.rid !== undefined && layer.rid !== packet.rid) {
      layer.rid = packet.rid
      // The same rid on a new SSRC means the publisher restarted that encoding.
      for (const other of this.stats.values())
        if (other !== layer && other.rid === packet.rid) this.remove(other.ssrc)
    }
    layer.add(packet, codec, keyframe, nowMs)
  }

  /** Every known layer, lowest quality first. */
  layers(nowMs: number): ReadonlyArray<LayerInfo> {
    const infos = new Map<number, LayerInfo>()
    const newestMs = this.newestPacketMs()
    for (const [ssrc, layer] of this.stats) infos.set(ssrc, layer.info(nowMs, newestMs))
    this.order = this.ordered(infos)
    return this.order.map((ssrc) => infos.get(ssrc)!)
  }

  /** The layers a subscriber can be given now, lowest quality first. */
  flowingLayers(nowMs: number): ReadonlyArray<LayerInfo> {
    return this.layers(nowMs).filter((layer) => layer.flowing)
  }

  layer(ssrc: number, nowMs: number): LayerInfo | undefined {
    return this.stats.get(ssrc)?.info(nowMs, this.newestPacketMs())
  }

  private newestPacketMs(): number {
    let newest = Number.NEGATIVE_INFINITY
    for (const layer of this.stats.values()) if (layer.lastPacketMs > newest) newest = layer.lastPacketMs
    return newest
  }

  remove(ssrc: number): void {
    this.stats.delete(ssrc)
    this.order = this.order.filter((s) => s !== ssrc)
  }

  private ordered(infos: ReadonlyMap<number, LayerInfo>): ReadonlyArray<number> {
    const layers = [...this.stats.values()]
    const unranked = Math.max(this.ridRank.size, this.ssrcRank.size)
    const rank = (layer: LayerStats): number =>
      (layer.rid === undefined ? undefined : this.ridRank.get(layer.rid)) ??
      this.ssrcRank.get(layer.ssrc) ??
      unranked
    const byDeclaration = (a: LayerStats, b: LayerStats): number =>
      rank(a) - rank(b) || a.seenOrder - b.seenOrder
    if (layers.every((l) => l.width !== undefined && l.height !== undefined)) {
      const area = (l: LayerStats) => l.width! * l.height!
      return layers
        .sort((a, b) => area(a) - area(b) || a.lastKnownBitrate - b.lastKnownBitrate || byDeclaration(a, b))
        .map((l) => l.ssrc)
    }
    if (layers.every((l) => l.lastKnownBitrate > 0)) {
      if (this.previousOrderStillHolds(infos)) return this.order
      return layers
        .sort((a, b) => a.lastKnownBitrate - b.lastKnownBitrate || byDeclaration(a, b))
        .map((l) => l.ssrc)
    }
    return layers.sort(byDeclaration).map((l) => l.ssrc)
  }

  /** Keeps a bitrate ordering unless some lower layer now clearly outruns the one above it. */
  private previousOrderStillHolds(infos: ReadonlyMap<number, LayerInfo>): boolean {
    if (this.order.length !== infos.size || !this.order.every((ssrc) => infos.has(ssrc))) return false
    for (let i = 1; i < this.order.length; i++) {
      const lower = this.stats.get(this.order[i - 1]!)!.lastKnownBitrate
      const higher = this.stats.get(this.order[i]!)!.lastKnownBitrate
      if (lower > higher * REORDER_FACTOR) return false
    }
    return true
  }

  private evictLongestSilent(): void {
    let oldest: LayerStats | undefined
    for (const layer of this.stats.values())
      if (!oldest || layer.lastPacketMs < oldest.lastPacketMs) oldest = layer
    if (oldest) this.remove(oldest.ssrc)
  }
}
