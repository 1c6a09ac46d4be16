import { type CodecName, isVideoCodec } from "./codec.ts"
import { isKeyframe } from "./keyframe.ts"
import { PacketHistory } from "./packet-history.ts"
import { PictureIdRewriter } from "./picture-id-rewriter.ts"
import type { OutboundRtp, RtpPacket } from "./rtp-packet.ts"
import { RtpRewriter } from "./rtp-rewriter.ts"
import { seqLate } from "./sequence-number.ts"

export interface SlotForwarderOptions {
  readonly kind: "audio" | "video"
  readonly initialSequenceNumber: number
  readonly initialTimestamp: number
  /** Packets kept to answer the subscriber's NACKs (video only). */
  readonly historyPackets: number
}

export type ForwardResult =
  | { readonly _tag: "Send"; readonly packet: OutboundRtp }
  /** dropped until the new source's first keyframe; the caller should make sure one was asked for */
  | { readonly _tag: "WaitingForKeyframe" }
  | { readonly _tag: "Dropped" }

const DROPPED: ForwardResult = { _tag: "Dropped" }
const WAITING: ForwardResult = { _tag: "WaitingForKeyframe" }

/**
 * What one subscription slot does to each packet of whatever source it carries: notice
 * a new source (another SSRC), hold video back until that source's first keyframe,
 * rewrite sequence numbers and timestamps into the slot's one continuous stream, and
 * remember what was sent so NACKs can be answered.
 */
export class SlotForwarder {
  private readonly rewriter: RtpRewriter
  private readonly history: PacketHistory<OutboundRtp> | undefined
  private readonly pictureIds = new PictureIdRewriter()
  private sourceSsrc: number | undefined
  private waitingForKeyframe = false
  /** Newest packet of the current source discarded while waiting for its keyframe. */
  private newestDiscarded: number | undefined

  constructor(options: SlotForwarderOptions) {
    this.rewriter = new RtpRewriter({
      clockRate: options.kind === "audio" ? 48000 : 90000,
      initialSequenceNumber: options.initialSequenceNumber,
      initialTimestamp: options.initialTimestamp
    })
    this.history = options.kind === "video" ? new PacketHistory(options.historyPackets) : undefined
  }

  get isWaitingForKeyframe(): boolean {
    return this.waitingForKeyframe
  }

  /** Forget the current source: the next packet starts a new one even if its SSRC is the same. */
  unbind(): void {
    this.sourceSsrc = undefined
  }

  forward(packet: RtpPacket, codec: CodecName): ForwardResult {
    if (packet.ssrc !== this.sourceSsrc) {
      this.sourceSsrc = packet.ssrc
      this.rewriter.switchSource()
      this.pictureIds.switchSource()
      this.waitingForKeyframe = isVideoCodec(codec)
      this.newestDiscarded = undefined
    }
    if (this.waitingForKeyframe) {
      // A keyframe that arrives after later packets were discarded (reordered, or retransmitted
      // late) would start a stream with a hole that nothing can fill: wait for a newer one.
      const late = seqLate(packet.sequenceNumber, this.newestDiscarded)
      if (late || !isKeyframe(codec, packet.payload)) {
        if (!late) this.newestDiscarded = packet.sequenceNumber
        return WAITING
      }
      this.waitingForKeyframe = false
    }
    if (packet.payload.byteLength === 0) {
      this.rewriter.skip(packet.sequenceNumber)
      return DROPPED
    }
    const header = this.rewriter.rewrite(packet.sequenceNumber, packet.timestamp, packet.receivedAtMs)
    if (!header) return DROPPED
    const out: OutboundRtp = {
      sequenceNumber: header.sequenceNumber,
      timestamp: header.timestamp,
      marker: packet.marker,
      payload:
        codec === "VP8" || codec === "VP9" ? this.pictureIds.rewrite(codec, packet.payload) : packet.payload,
      audioLevel: packet.audioLevel
    }
    this.history?.put(out)
    return { _tag: "Send", packet: out }
  }

  /** The packets still in history for a subscriber's NACK. */
  lookup(sequenceNumbers: ReadonlyArray<number>): OutboundRtp[] {
    const found: OutboundRtp[] = []
    if (!this.history) return found
    for (const seq of sequenceNumbers) {
      const packet = this.history.get(seq)
      if (packet) found.push(packet)
    }
    return found
  }
}
