import type { PacketResult } from "../transport/transport.ts"
import { ProbeCluster, type ProbeMeasurement } from "./probe-cluster.ts"

/**
 * Decides when to probe the downlink and how hard. The estimate only creeps up by itself; when
 * the subscriber could use more than it (the next layer up) and the link looks clear, a short
 * burst of padding at up to twice the estimate shows whether there is room. A probe the link
 * delivered as sent is followed at once by a bigger one; one that filled the link (its result
 * is then the link's capacity) or said nothing backs off, doubling the wait each time up to
 * `MAX_BACKOFF_MS`.
 */

export interface ProbeConditions {
  readonly estimateBps: number
  /** What media alone carries now (the acknowledged rate, or the estimate when unknown). */
  readonly mediaBps: number
  /** The most worth probing for (desired bitrate, REMB and configured maximum), undefined when nothing more is wanted. */
  readonly ceilingBps: number | undefined
  /** No overuse, no draining queue and no heavy loss right now, and transport-cc feedback flows. */
  readonly linkClear: boolean
}

export interface ProbeOutcome {
  readonly targetBps: number
  /** Undefined when the probe said nothing usable (too few packets reported). */
  readonly measurement: ProbeMeasurement | undefined
  /** The link delivered the probe unsaturated and near its target, so a bigger one follows. */
  readonly succeeded: boolean
}

const PROBE_MULTIPLIER = 2
/** Even a probe for a little more than the estimate goes this far above it, to be measurable. */
const MIN_PROBE_MULTIPLIER = 1.2
/**
 * Probes aim this far past what is wanted: a probe measures at most what it sends, and a layer
 * whose nominal rate just fits the estimate would not fit its own peaks.
 */
const CEILING_HEADROOM = 1.25
/** Padding is at least this share of the probe, in case media is slower than it seems. */
const MIN_PADDING_SHARE = 0.3
/** A probe lasts long enough to carry about this many 1200-byte packets. */
const PROBE_BITS = 10 * 1200 * 8
const MIN_DURATION_MS = 60
const MAX_DURATION_MS = 400
/** An unsaturated probe delivering this share of its target earns a bigger one right away. */
const SUCCESS_RATIO = 0.7
const INITIAL_BACKOFF_MS = 1000
const MAX_BACKOFF_MS = 5000
/** A probe with no complete feedback this long after its last padding has failed. */
const RESULT_TIMEOUT_MS = 1500

export class ProbeController {
  private cluster: ProbeCluster | undefined
  private estimateAtStartBps = 0
  private nextProbeMs = Number.NEGATIVE_INFINITY
  private backoffMs = INITIAL_BACKOFF_MS
  probesStarted = 0
  probesSucceeded = 0
  probesFailed = 0

  get probing(): boolean {
    return this.cluster !== undefined
  }

  /** What the probe under way has shown so far, if enough of it has been reported. */
  measurementSoFar(): ProbeMeasurement | undefined {
    return this.cluster?.measurement()
  }

  /** Bytes of padding to send now (0 when not probing). */
  tick(nowMs: number, conditions: ProbeConditions): number {
    const cluster = this.cluster
    if (cluster !== undefined) {
      if (this.timedOut(cluster, nowMs)) {
        this.finish(cluster, nowMs)
        return 0
      }
      return cluster.paddingDue(nowMs)
    }
    const { estimateBps, mediaBps, ceilingBps, linkClear } = conditions
    if (!linkClear || ceilingBps === undefined || ceilingBps <= estimateBps) return 0
    if (nowMs < this.nextProbeMs) return 0
    const targetBps = Math.min(
      PROBE_MULTIPLIER * estimateBps,
      Math.max(MIN_PROBE_MULTIPLIER * estimateBps, CEILING_HEADROOM * ceilingBps)
    )
    const paddingBps = Math.max(targetBps - mediaBps, MIN_PADDING_SHARE * targetBps)
    const durationMs = Math.min(Math.max((PROBE_BITS * 1000) / targetBps, MIN_DURATION_MS), MAX_DURATION_MS)
    const started = new ProbeCluster(targetBps, paddingBps, durationMs, nowMs)
    this.cluster = started
    this.estimateAtStartBps = estimateBps
    this.probesStarted++
    return started.paddingDue(nowMs)
  }

  onPacket(packet: PacketResult): void {
    this.cluster?.record(packet)
  }

  /** After a feedback's packets went through `onPacket`: the outcome of a probe that just completed. */
  onFeedbackEnd(nowMs: number): ProbeOutcome | undefined {
    const cluster = this.cluster
    if (cluster === undefined) return undefined
    if (!cluster.fullyReported && !this.timedOut(cluster, nowMs)) return undefined
    return this.finish(cluster, nowMs)
  }

  private timedOut(cluster: ProbeCluster, nowMs: number): boolean {
    return cluster.sendingDone && nowMs - cluster.lastEmitTimeMs > RESULT_TIMEOUT_MS
  }

  private finish(cluster: ProbeCluster, nowMs: number): ProbeOutcome {
    this.cluster = undefined
    const measurement = cluster.measurement()
    const succeeded =
      measurement !== undefined &&
      !measurement.saturated &&
      measurement.estimateBps >= SUCCESS_RATIO * cluster.targetBps &&
      measurement.estimateBps > this.estimateAtStartBps
    if (succeeded) {
      this.probesSucceeded++
      this.backoffMs = INITIAL_BACKOFF_MS
      this.nextProbeMs = nowMs
    } else {
      this.probesFailed++
      this.nextProbeMs = nowMs + this.backoffMs
      this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS)
    }
    return { targetBps: cluster.targetBps, measurement, succeeded }
  }
}
