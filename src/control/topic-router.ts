import { MAX_TOPICS_PER_PARTICIPANT } from "../protocol/control-protocol.ts"
import type { ControlCounters } from "./control-counters.ts"

/** Someone who may receive topic messages: `send` is false when the message was not taken. */
export interface TopicSubscriber {
  readonly participantId: string
  readonly send: (label: string, text: string) => boolean
}

/**
 * A room's data topics: who subscribed to what, and delivery to every subscriber but the
 * sender, on the channel of the sender's reliability. Delivery never waits: a subscriber
 * whose channel buffer is over its limit (or closed) misses the message, counted.
 */
export class TopicRouter {
  private readonly subscribers = new Map<string, Map<string, TopicSubscriber>>()
  private readonly topicsOf = new Map<string, Set<string>>()

  constructor(private readonly counters: ControlCounters) {}

  /**
   * Applies a subscription change; false (and nothing changed) when it would leave the
   * participant with more than MAX_TOPICS_PER_PARTICIPANT topics.
   */
  update(
    subscriber: TopicSubscriber,
    subscribe: ReadonlyArray<string>,
    unsubscribe: ReadonlyArray<string>
  ): boolean {
    const current = this.topicsOf.get(subscriber.participantId) ?? new Set<string>()
    const next = new Set(current)
    for (const topic of unsubscribe) next.delete(topic)
    for (const topic of subscribe) next.add(topic)
    if (next.size > MAX_TOPICS_PER_PARTICIPANT) return false
    for (const topic of current) if (!next.has(topic)) this.leave(subscriber.participantId, topic)
    for (const topic of next) {
      let members = this.subscribers.get(topic)
      if (!members) {
        members = new Map()
        this.subscribers.set(topic, members)
      }
      members.set(subscriber.participantId, subscriber)
    }
    if (next.size === 0) this.topicsOf.delete(subscriber.participantId)
    else this.topicsOf.set(subscriber.participantId, next)
    return true
  }

  remove(participantId: string): void {
    for (const topic of this.topicsOf.get(participantId) ?? []) this.leave(participantId, topic)
    this.topicsOf.delete(participantId)
  }

  topics(participantId: string): ReadonlySet<string> {
    return this.topicsOf.get(participantId) ?? new Set()
  }

  /** Delivers an already framed message; returns how many subscribers took it. */
  route(from: string, topic: string, label: string, text: string): number {
    const members = this.subscribers.get(topic)
    let delivered = 0
    if (members) {
      for (const subscriber of members.values()) {
        if (subscriber.participantId === from) continue
        if (subscriber.send(label, text)) delivered++
        else this.counters.dropTopic("subscriber_buffer_full")
      }
    }
    this.counters.topicDelivered += delivered
    return delivered
  }

  private leave(participantId: string, topic: string): void {
    const members = this.subscribers.get(topic)
    if (!members) return
    members.delete(participantId)
    if (members.size === 0) this.subscribers.delete(topic)
  }
}
