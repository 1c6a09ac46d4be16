import type { Rng } from "../engine/rng.ts"
import type { Trace } from "../engine/trace.ts"
import type { World } from "../engine/world.ts"
import { type CapacityChange, type CapacityPoint, capacityPoints } from "./capacity-schedule.ts"
import { type GilbertElliott, GilbertElliottState } from "./gilbert-elliott.ts"
import { type DownPacket, describePacket, type UpPacket, wireSize } from "./packets.ts"

export interface LinkSettings {
  readonly latencyMs: number
  /** Each packet's delay is latency ± up to this much (uniform); order is kept unless reordered. */
  readonly jitterMs: number
  /** Uniform loss probability, used when `burst` is not set. */
  readonly loss: number
  readonly burst: GilbertElliott | undefined
  /** Probability that a packet is held back by `reorderDelayMs`, letting later ones overtake it. */
  readonly reorder: number
  readonly reorderDelayMs: number
  readonly duplicate: number
  /** Bottleneck rate; undefined means unlimited. */
  readonly bandwidthKbps: number | undefined
  /** The bottleneck queue holds at most this much sending time; beyond it packets are tail-dropped. */
  readonly queueMs: number
}

export const cleanLink: LinkSettings = {
  latencyMs: 5,
  jitterMs: 0,
  loss: 0,
  burst: undefined,
  reorder: 0,
  reorderDelayMs: 0,
  duplicate: 0,
  bandwidthKbps: undefined,
  queueMs: 200
}

export type DropReason = "loss" | "queue" | "partition"

export interface LinkStats {
  sent: number
  delivered: number
  duplicated: number
  dropped: Record<DropReason, number>
  /** Longest time a packet waited in the bottleneck queue. */
  maxQueueMs: number
}

type Packet = UpPacket | DownPacket

/** One direction of a client's path to the server. Every knob can change mid-run. */
export class Link<P extends Packet> {
  private partitioned = false
  private readonly gilbertElliott = new GilbertElliottState()
  private busyUntil = 0
  private lastArrival = 0
  readonly stats: LinkStats = {
    sent: 0,
    delivered: 0,
    duplicated: 0,
    dropped: { loss: 0, queue: 0, partition: 0 },
    maxQueueMs: 0
  }
  /** Told about every packet this link loses, with the reason. */
  onDrop: (packet: P, reason: DropReason) => void = () => undefined
  /** Told about every packet this link holds back for others to overtake. */
  onHeldBack: (packet: P) => void = () => undefined
  /** Every bottleneck rate the link has had, with when it took effect. */
  readonly capacityLog: CapacityPoint[]

  constructor(
    readonly name: string,
    private readonly world: World,
    private readonly rng: Rng,
    private readonly trace: Trace,
    public settings: LinkSettings
  ) {
    this.capacityLog = [{ atMs: world.now, kbps: settings.bandwidthKbps }]
  }

  set(changes: Partial<LinkSettings>): void {
    this.settings = { ...this.settings, ...changes }
    if ("bandwidthKbps" in changes && changes.bandwidthKbps !== this.capacityLog.at(-1)?.kbps) {
      this.capacityLog.push({ atMs: this.world.now, kbps: changes.bandwidthKbps })
    }
    this.trace.record(`${this.name} set ${JSON.stringify(changes)}`)
  }

  /** Changes the bottleneck rate over time as the schedule says, counted from now. */
  schedule(changes: ReadonlyArray<CapacityChange>): void {
    const start = this.world.now
    for (const point of capacityPoints(changes)) {
      this.world.at(start + point.atMs, () => this.set({ bandwidthKbps: point.kbps }))
    }
  }

  get isPartitioned(): boolean {
    return this.partitioned
  }

  partition(): void {
    this.partitioned = true
    this.trace.record(`${this.name} partition`)
  }

  heal(): void {
    this.partitioned = false
    this.trace.record(`${this.name} heal`)
  }

  /** The least delay this link can give a packet sent now. */
  get minDelayMs(): number {
    return Math.max(1, this.settings.latencyMs - this.settings.jitterMs)
  }

  send(packet: P, deliver: (packet: P) => void): void {
    const now = this.world.now
    const s = this.settings
    this.stats.sent++
    if (this.partitioned) {
      this.drop(packet, "partition")
      return
    }
    const lost = s.burst
      ? this.gilbertElliott.step(s.burst, this.rng.next)
      : s.loss > 0 && this.rng.next() < s.loss
    if (lost) {
      this.drop(packet, "loss")
      return
    }
    let departure = now
    if (s.bandwidthKbps !== undefined) {
      const start = Math.max(now, this.busyUntil)
      const queued = start - now
      if (queued > s.queueMs) {
        this.drop(packet, "queue")
        return
      }
      if (queued > this.stats.maxQueueMs) this.stats.maxQueueMs = queued
      this.busyUntil = start + (wireSize(packet) * 8) / Math.max(1, s.bandwidthKbps)
      departure = this.busyUntil
    }
    const jitter = s.jitterMs > 0 ? (this.rng.next() * 2 - 1) * s.jitterMs : 0
    let arrival = departure + Math.max(0, s.latencyMs + jitter)
    if (s.reorder > 0 && this.rng.next() < s.reorder) {
      arrival += s.reorderDelayMs
      this.onHeldBack(packet)
    } else {
      arrival = Math.max(arrival, this.lastArrival)
      this.lastArrival = arrival
    }
    const at = Math.max(Math.ceil(arrival), now + 1)
    this.trace.record(`${this.name} ${describePacket(packet)} @${at}`)
    this.world.at(at, () => this.arrive(packet, deliver))
    if (s.duplicate > 0 && this.rng.next() < s.duplicate) {
      this.stats.duplicated++
      this.world.at(at + 1, () => this.arrive(packet, deliver))
    }
  }

  private arrive(packet: P, deliver: (packet: P) => void): void {
    if (this.partitioned) {
      this.drop(packet, "partition")
      return
    }
    this.stats.delivered++
    deliver(packet)
  }

  private drop(packet: P, reason: DropReason): void {
    this.stats.dropped[reason]++
    this.trace.record(`${this.name} ${describePacket(packet)} drop ${reason}`)
    this.onDrop(packet, reason)
  }
}
