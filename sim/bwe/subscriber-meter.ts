import type { SimClient } from "../clients/sim-client.ts"
import type { SlotReceiver } from "../clients/slot-receiver.ts"
import { publicationKey } from "../media/payload.ts"
import type { CapacityPoint } from "../network/capacity-schedule.ts"
import { wireSize } from "../network/packets.ts"

/** Delivered bytes are counted in windows this long. */
export const WINDOW_MS = 1000
/** Packet arrivals on the video slot are noted in buckets this long (to tell a paused slot). */
export const BUCKET_MS = 100

export interface FrameEvent {
  readonly t: number
  readonly layer: number
  readonly keyframe: boolean
}

/** What one subscriber's video and audio slot got from one publisher, as its own client saw it. */
export interface SubscriberRecord {
  readonly subscriber: string
  readonly from: number
  readonly to: number
  /** Decoded video frames of the publisher's video, in order. */
  readonly frames: ReadonlyArray<FrameEvent>
  /** 100 ms buckets (from `from`) in which any video packet arrived on the slot. */
  readonly videoBuckets: ReadonlySet<number>
  /** Media bytes on the wire (RTP and retransmissions, not padding) per window since `from`. */
  readonly mediaBytes: ReadonlyArray<number>
  readonly paddingBytes: number
  readonly audioSent: number
  readonly audioDelivered: number
  /** Keyframe requests the slot sent, and those that reached the publisher's encoder meanwhile (all slots). */
  readonly plisSent: number
  readonly keyframeRequestsAtPublisher: number
  readonly capacity: ReadonlyArray<CapacityPoint>
}

/** Audio sent in the last moments may still be on its way when the measurement ends. */
const AUDIO_IN_FLIGHT_MS = 300
const AUDIO_PACKET_MS = 20

/**
 * Watches one subscriber's first video and audio slot and its downlink for the length of a
 * measurement, through the hooks the simulated client and slot receiver offer. It reads only
 * what the subscriber received (and what the publisher's encoder was asked), never the server.
 */
export class SubscriberMeter {
  private readonly frames: FrameEvent[] = []
  private readonly videoBuckets = new Set<number>()
  private readonly mediaBytes: number[] = []
  private paddingBytes = 0
  private readonly audioReceived = new Set<number>()
  private readonly video: SlotReceiver | undefined
  private readonly plisAtStart: number
  private readonly audioUseqAtStart: number | undefined
  private readonly keyframeRequestsAtStart: number

  constructor(
    private readonly subscriber: SimClient,
    private readonly publisher: SimClient,
    private readonly from: number
  ) {
    const session = subscriber.current
    const published = publisher.current
    if (!session || !published) throw new Error(`${subscriber.name} and ${publisher.name} must be connected`)
    const origin = publisher.index
    const videoTrack = published.publishers.find((p) => p.spec.kind === "video")
    const audioTrack = published.publishers.find((p) => p.spec.kind === "audio")
    const videoKey = videoTrack && `${origin}.${published.generation}/${videoTrack.track}`
    const audioKey = audioTrack && `${origin}.${published.generation}/${audioTrack.track}`
    this.audioUseqAtStart = audioTrack?.streams[0]?.useq
    this.keyframeRequestsAtStart = videoTrack?.keyframeRequests ?? 0
    const receivers = [...session.receivers.values()]
    this.video = receivers.find((r) => r.kind === "video")
    this.plisAtStart = this.video?.plisSent ?? 0
    const audio = receivers.find((r) => r.kind === "audio")
    if (this.video) {
      this.video.observer = {
        packet: (now, info) => {
          if (info && publicationKey(info) === videoKey)
            this.videoBuckets.add(Math.floor((now - from) / BUCKET_MS))
        },
        decoded: (now, frame) => {
          if (frame.publication === videoKey)
            this.frames.push({ t: now, layer: frame.layer, keyframe: frame.keyframe })
        }
      }
    }
    if (audio) {
      audio.observer = {
        packet: (_now, info) => {
          if (info && publicationKey(info) === audioKey) this.audioReceived.add(info.useq)
        },
        decoded: () => undefined
      }
    }
    subscriber.onDownlinkArrival = (now, packet) => {
      if (packet.kind === "padding") this.paddingBytes += wireSize(packet)
      if (packet.kind !== "rtp" || now < from) return
      const window = Math.floor((now - from) / WINDOW_MS)
      while (this.mediaBytes.length <= window) this.mediaBytes.push(0)
      this.mediaBytes[window]! += wireSize(packet)
    }
  }

  finish(to: number): SubscriberRecord {
    const published = this.publisher.current
    const audioStream = published?.publishers.find((p) => p.spec.kind === "audio")?.streams[0]
    const videoTrack = published?.publishers.find((p) => p.spec.kind === "video")
    let audioSent = 0
    let audioDelivered = 0
    if (audioStream && this.audioUseqAtStart !== undefined) {
      const last = audioStream.useq - 1 - AUDIO_IN_FLIGHT_MS / AUDIO_PACKET_MS
      for (let u = this.audioUseqAtStart; u <= last; u++) {
        audioSent++
        if (this.audioReceived.has(u)) audioDelivered++
      }
    }
    const windows = Math.floor((to - this.from) / WINDOW_MS)
    return {
      subscriber: this.subscriber.name,
      from: this.from,
      to,
      frames: this.frames.filter((f) => f.t <= to),
      videoBuckets: this.videoBuckets,
      mediaBytes: Array.from({ length: windows }, (_, i) => this.mediaBytes[i] ?? 0),
      paddingBytes: this.paddingBytes,
      audioSent,
      audioDelivered,
      plisSent: (this.video?.plisSent ?? 0) - this.plisAtStart,
      keyframeRequestsAtPublisher: (videoTrack?.keyframeRequests ?? 0) - this.keyframeRequestsAtStart,
      capacity: this.subscriber.down.capacityLog
    }
  }
}
