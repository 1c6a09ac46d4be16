import { SequenceUnwrapper } from "../../src/media/sequence-number.ts"
import type { MediaKind } from "../../src/transport/transport.ts"
import { decodePayload, type PayloadInfo, publicationKey, streamKey } from "../media/payload.ts"
import type { RtpOnWire } from "../network/packets.ts"

const NACK_RETRY_MS = 100
const NACK_TRIES = 3
const NACK_GIVE_UP_MS = 1000
const MAX_MISSING = 512
const MAX_NACKS_PER_TICK = 64
/** A gap in the frame chain that NACKs have not filled by now needs a keyframe. */
const STALL_MS = 400
const PLI_INTERVAL_MS = 300
const SEEN_WINDOW = 4096

interface FrameAssembly {
  readonly stream: string
  readonly frame: number
  readonly keyframe: boolean
  readonly layer: number
  readonly count: number
  readonly publication: string
  readonly firstSeenAt: number
  readonly got: Set<number>
}

/** What a decoded frame (video) or packet (audio) was. */
export interface DecodedFrame {
  readonly stream: string
  readonly publication: string
  readonly layer: number
  readonly keyframe: boolean
}

export interface SlotObserver {
  /** A packet not seen before on this slot (retransmissions included, duplicates not). */
  readonly packet: (now: number, info: PayloadInfo | undefined, packet: RtpOnWire) => void
  readonly decoded: (now: number, frame: DecodedFrame) => void
}

export interface SlotFeedback {
  readonly nacks: ReadonlyArray<number>
  readonly pli: boolean
}

/**
 * One receive m-line of a simulated subscriber, behaving like a browser's receiver: it
 * detects gaps and NACKs them (bounded retries), assembles video frames and decodes them
 * only along an unbroken reference chain starting at a keyframe, asks for a keyframe when
 * the chain breaks, and keeps the numbers the oracles read (SSRCs, freezes, what it got
 * from whom and when).
 */
export class SlotReceiver {
  readonly ssrcs = new Set<number>()
  packets = 0
  retransmissionsReceived = 0
  duplicates = 0
  nacksSent = 0
  plisSent = 0
  decodedFrames = 0
  firstPacketAt: number | undefined
  firstFrameAt: number | undefined
  lastFrameAt: number | undefined
  lastPacketAt: number | undefined
  /** Longest time between two decoded frames (video) or packets (audio), after the first. */
  longestGapMs = 0
  /** Per publication (see `publicationKey`), when this slot last decoded something from it. */
  readonly lastDecodedFrom = new Map<string, number>()
  /** Told about every new packet and every decoded frame (measurements hook in here). */
  observer: SlotObserver | undefined

  private readonly unwrapper = new SequenceUnwrapper()
  private highest: number | undefined
  private first: number | undefined
  private readonly seen = new Set<number>()
  private readonly missing = new Map<number, { since: number; tries: number; lastNackAt: number }>()
  private readonly frames = new Map<string, FrameAssembly>()
  private lastDecoded: { stream: string; frame: number } | undefined
  private needKeyframe = true
  private lastPliAt = Number.NEGATIVE_INFINITY

  constructor(
    readonly mid: string,
    readonly kind: MediaKind,
    readonly expectedSsrc: number | undefined
  ) {}

  onPacket(now: number, packet: RtpOnWire): void {
    this.ssrcs.add(packet.ssrc)
    const u = this.unwrapper.unwrap(packet.sequenceNumber)
    if (this.seen.has(u)) {
      this.duplicates++
      return
    }
    this.seen.add(u)
    if (this.seen.size > SEEN_WINDOW * 2) {
      for (const old of this.seen) if (old < u - SEEN_WINDOW) this.seen.delete(old)
    }
    this.packets++
    if (packet.rtx) this.retransmissionsReceived++
    this.firstPacketAt ??= now
    this.lastPacketAt = now
    this.trackLoss(u, now)
    const info = decodePayload(packet.payload)
    this.observer?.packet(now, info, packet)
    if (!info) return
    if (this.kind === "audio") {
      this.decoded(now, publicationKey(info))
      this.observer?.decoded(now, {
        stream: streamKey(info),
        publication: publicationKey(info),
        layer: info.layer,
        keyframe: false
      })
      return
    }
    this.assemble(now, info)
  }

  /** Sequence numbers this slot expected so far (RFC 3550: highest minus first plus one). */
  get expectedPackets(): number {
    return this.highest === undefined || this.first === undefined ? 0 : this.highest - this.first + 1
  }

  /** Packets received the first time they were sent (not retransmissions, not duplicates). */
  get originalsReceived(): number {
    return this.packets - this.retransmissionsReceived
  }

  /** NACKs and keyframe requests due now. */
  tick(now: number): SlotFeedback {
    if (this.kind === "audio") return { nacks: [], pli: false }
    const nacks: number[] = []
    for (const [u, m] of this.missing) {
      if (now - m.since > NACK_GIVE_UP_MS) {
        this.missing.delete(u)
        continue
      }
      if (m.tries >= NACK_TRIES || now - m.lastNackAt < NACK_RETRY_MS || nacks.length >= MAX_NACKS_PER_TICK) {
        continue
      }
      m.tries++
      m.lastNackAt = now
      nacks.push(u & 0xffff)
    }
    this.nacksSent += nacks.length
    this.checkStall(now)
    for (const [key, frame] of this.frames) if (now - frame.firstSeenAt > 2000) this.frames.delete(key)
    const receiving = this.lastPacketAt !== undefined && now - this.lastPacketAt < 1000
    const pli = this.needKeyframe && receiving && now - this.lastPliAt >= PLI_INTERVAL_MS
    if (pli) {
      this.lastPliAt = now
      this.plisSent++
    }
    return { nacks, pli }
  }

  /** The longest freeze after the first frame, counting one still going on at `until`. */
  longestFreezeMs(until: number): number {
    if (this.lastFrameAt === undefined) return 0
    return Math.max(this.longestGapMs, until - this.lastFrameAt)
  }

  private trackLoss(u: number, now: number): void {
    if (this.first === undefined || u < this.first) this.first = u
    if (this.highest === undefined) {
      this.highest = u
      return
    }
    if (u > this.highest) {
      if (u - this.highest - 1 > MAX_MISSING) this.missing.clear()
      else
        for (let v = this.highest + 1; v < u; v++)
          this.missing.set(v, { since: now, tries: 0, lastNackAt: -1e9 })
      this.highest = u
    } else {
      this.missing.delete(u)
    }
  }

  private assemble(now: number, info: PayloadInfo): void {
    const stream = streamKey(info)
    const key = `${stream}#${info.frame}`
    let frame = this.frames.get(key)
    if (!frame) {
      frame = {
        stream,
        frame: info.frame,
        keyframe: info.keyframe,
        layer: info.layer,
        count: info.count,
        publication: publicationKey(info),
        firstSeenAt: now,
        got: new Set()
      }
      this.frames.set(key, frame)
    }
    frame.got.add(info.index)
    if (frame.got.size === frame.count) this.tryDecode(now)
  }

  /** Decodes every complete frame that continues the chain, starting at a keyframe when needed. */
  private tryDecode(now: number): void {
    for (;;) {
      const next = this.nextDecodable()
      if (!next) return
      this.frames.delete(`${next.stream}#${next.frame}`)
      this.lastDecoded = { stream: next.stream, frame: next.frame }
      this.needKeyframe = false
      this.decodedFrames++
      this.decoded(now, next.publication)
      this.observer?.decoded(now, next)
    }
  }

  private nextDecodable(): FrameAssembly | undefined {
    const last = this.lastDecoded
    if (last && !this.needKeyframe) {
      const successor = this.frames.get(`${last.stream}#${last.frame + 1}`)
      if (successor && successor.got.size === successor.count) return successor
    }
    let best: FrameAssembly | undefined
    for (const frame of this.frames.values()) {
      if (!frame.keyframe || frame.got.size !== frame.count) continue
      if (last && frame.stream === last.stream && frame.frame <= last.frame) continue
      if (!best || frame.firstSeenAt > best.firstSeenAt) best = frame
    }
    return best
  }

  private checkStall(now: number): void {
    if (this.needKeyframe || !this.lastDecoded) return
    const last = this.lastDecoded
    for (const frame of this.frames.values()) {
      const after = frame.stream !== last.stream || frame.frame > last.frame
      if (after && now - frame.firstSeenAt > STALL_MS) {
        this.needKeyframe = true
        return
      }
    }
  }

  private decoded(now: number, publication: string): void {
    if (this.lastFrameAt !== undefined)
      this.longestGapMs = Math.max(this.longestGapMs, now - this.lastFrameAt)
    this.firstFrameAt ??= now
    this.lastFrameAt = now
    this.lastDecodedFrom.set(publication, now)
  }
}
