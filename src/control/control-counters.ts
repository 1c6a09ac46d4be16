import { Effect, Metric } from "effect"
import * as M from "../observability/metrics.ts"

/**
 * A room's control and topic counts: plain additions from data-channel callbacks, moved into
 * the Prometheus metrics by the room's tick (no Effect per message).
 */
export class ControlCounters {
  messagesIn = 0
  messagesOut = 0
  sendsFailed = 0
  disconnects = 0
  topicDelivered = 0
  readonly rejected = new Map<string, number>()
  readonly topicDropped = new Map<string, number>()

  reject(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1)
  }

  dropTopic(reason: string, count = 1): void {
    this.topicDropped.set(reason, (this.topicDropped.get(reason) ?? 0) + count)
  }

  /** Adds everything counted since the previous flush to the metrics, and starts over. */
  readonly flush: Effect.Effect<void> = Effect.suspend(() => {
    const updates: Array<Effect.Effect<void>> = []
    const add = (metric: Metric.Metric<number, unknown>, value: number) => {
      if (value > 0) updates.push(Metric.update(metric, value))
    }
    add(Metric.withAttributes(M.controlMessages, { direction: "in" }), this.messagesIn)
    add(Metric.withAttributes(M.controlMessages, { direction: "out" }), this.messagesOut)
    add(M.controlSendsFailed, this.sendsFailed)
    add(Metric.withAttributes(M.controlDisconnects, { reason: "abuse" }), this.disconnects)
    add(M.topicMessages, this.topicDelivered)
    for (const [reason, n] of this.rejected)
      add(Metric.withAttributes(M.controlMessagesRejected, { reason }), n)
    for (const [reason, n] of this.topicDropped)
      add(Metric.withAttributes(M.topicMessagesDropped, { reason }), n)
    this.messagesIn = 0
    this.messagesOut = 0
    this.sendsFailed = 0
    this.disconnects = 0
    this.topicDelivered = 0
    this.rejected.clear()
    this.topicDropped.clear()
    return Effect.all(updates, { discard: true })
  })
}
