import { Context, Effect, Layer, Metric, Schedule } from "effect"
import * as M from "./metrics.ts"
import { transportCounters } from "./transport-counters.ts"

/**
 * Per-packet counts are plain additions on the hot path; a fiber moves them into the
 * Prometheus metrics every second, so counting costs no Effect per packet.
 */
export class MediaCounters {
  packetsIn = 0
  bytesIn = 0
  packetsOut = 0
  bytesOut = 0
  droppedPublisherQueue = 0
  droppedSubscriberQueue = 0
  droppedWaitingForKeyframe = 0
  droppedUnbound = 0
  droppedDuplicate = 0
  probePaddingBytes = 0
  droppedNotConnected = 0
  keyframeRequestsFromSubscribers = 0
  keyframeRequestsToPublishers = 0
  nacksFromSubscribers = 0
  nacksToPublishers = 0
  retransmissions = 0
  retransmissionsOverBudget = 0
}

export class Counters extends Context.Service<Counters, MediaCounters>()("prism/Counters") {
  static readonly layer = Layer.effect(
    Counters,
    Effect.gen(function* () {
      const counters = new MediaCounters()
      const flushed = new MediaCounters()
      const transportFlushed = { ...transportCounters }
      const flush = Effect.gen(function* () {
        const delta = (key: keyof MediaCounters) => {
          const d = counters[key] - flushed[key]
          flushed[key] = counters[key]
          return d
        }
        const dropped = (reason: string) => Metric.withAttributes(M.packetsDropped, { reason })
        yield* Metric.update(M.packetsIn, delta("packetsIn"))
        yield* Metric.update(M.bytesIn, delta("bytesIn"))
        yield* Metric.update(M.packetsOut, delta("packetsOut"))
        yield* Metric.update(M.bytesOut, delta("bytesOut"))
        yield* Metric.update(dropped("publisher_queue_full"), delta("droppedPublisherQueue"))
        yield* Metric.update(dropped("subscriber_queue_full"), delta("droppedSubscriberQueue"))
        yield* Metric.update(dropped("waiting_for_keyframe"), delta("droppedWaitingForKeyframe"))
        yield* Metric.update(dropped("stale_binding"), delta("droppedUnbound"))
        yield* Metric.update(dropped("not_connected"), delta("droppedNotConnected"))
        yield* Metric.update(dropped("duplicate"), delta("droppedDuplicate"))
        yield* Metric.update(
          Metric.withAttributes(M.keyframeRequests, { direction: "from_subscriber" }),
          delta("keyframeRequestsFromSubscribers")
        )
        yield* Metric.update(
          Metric.withAttributes(M.keyframeRequests, { direction: "to_publisher" }),
          delta("keyframeRequestsToPublishers")
        )
        yield* Metric.update(
          Metric.withAttributes(M.nacks, { direction: "from_subscriber" }),
          delta("nacksFromSubscribers")
        )
        yield* Metric.update(
          Metric.withAttributes(M.nacks, { direction: "to_publisher" }),
          delta("nacksToPublishers")
        )
        yield* Metric.update(M.retransmissions, delta("retransmissions"))
        yield* Metric.update(M.retransmissionsOverBudget, delta("retransmissionsOverBudget"))
        yield* Metric.update(M.probePaddingBytes, delta("probePaddingBytes"))
        const transportDelta = (key: keyof typeof transportCounters) => {
          const d = transportCounters[key] - transportFlushed[key]
          transportFlushed[key] = transportCounters[key]
          return d
        }
        yield* Metric.update(M.transportFeedbackSent, transportDelta("feedbackSent"))
        yield* Metric.update(M.rtcpMalformed, transportDelta("rtcpMalformed"))
        const rtx = (result: string) => Metric.withAttributes(M.simulcastRtx, { result })
        yield* Metric.update(rtx("recovered"), transportDelta("rtxRecovered"))
        yield* Metric.update(rtx("unmapped"), transportDelta("rtxUnmapped"))
        yield* Metric.update(rtx("padding"), transportDelta("rtxPadding"))
      })
      yield* flush.pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.forkScoped)
      return counters
    })
  )
}
