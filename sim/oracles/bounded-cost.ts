import { Duration } from "effect"
import { MAX_INJECTED_DELAY_MS } from "../faults/sim-buggify.ts"
import { streamKey } from "../media/payload.ts"
import type { OracleContext } from "./context.ts"
import type { Violation } from "./violation.ts"

/** The server's own NACK generator asks for each missing packet at most this many times. */
const NACK_RETRIES = 3
/**
 * Simulated server work takes no simulated time, so a packet leaves the moment it arrives
 * unless something holds it in a queue; this much holding means a queue is not draining.
 */
const MAX_RESIDENCE_MS = 50
const MAX_RESIDENCE_BUGGIFY_MS = MAX_RESIDENCE_MS + 4 * MAX_INJECTED_DELAY_MS

/**
 * The server's work stays proportional to the trouble it is in:
 * - keyframe requests reach each layer (SSRC) of a publication at most once per
 *   KEYFRAME_REQUEST_INTERVAL (a switch to another layer needs that layer's keyframe);
 * - NACKs to a publisher cover each packet its uplink lost or reordered at most 3 times;
 * - retransmissions on a slot never outnumber the sequence numbers its subscriber NACKed;
 * - every queue stays within its bound: no packet waits in the server, no overflow drops
 *   happen unless injected.
 */
export const checkBoundedCost = (context: OracleContext): Violation[] => {
  const violations: Violation[] = []
  const report = (message: string) => violations.push({ oracle: "bounded-cost", message })
  const interval = Duration.toMillis(context.config.keyframeRequestInterval)
  const clientByName = new Map(context.clients.map((c) => [c.name, c]))

  for (const publication of context.ledger.publications) {
    const label = `${publication.peer.client}/${publication.peer.participantId} mid ${publication.mid}`
    const lastBySsrc = new Map<number, number>()
    for (const { atMs, ssrc } of publication.keyframeRequests) {
      const last = lastBySsrc.get(ssrc)
      lastBySsrc.set(ssrc, atMs)
      if (last !== undefined && atMs - last < interval) {
        report(`${label}: keyframe requests at t=${last} and t=${atMs}, under ${interval} ms apart`)
        break
      }
    }
    const client = clientByName.get(publication.peer.client)
    const session = client?.sessions.find((s) => s.participantId === publication.peer.participantId)
    if (!client || !session) continue
    const prefix = `${client.index}.${session.generation}/${publication.mid}/`
    let disorder = 0
    for (const [key, count] of context.ledger.upstreamDisorder) if (key.startsWith(prefix)) disorder += count
    const allowed = NACK_RETRIES * disorder
    if (publication.nackedSeqs > allowed) {
      report(
        `${label}: ${publication.nackedSeqs} NACKed sequence numbers for ${disorder} lost or reordered packets`
      )
    }
  }

  const residenceLimit = context.buggify ? MAX_RESIDENCE_BUGGIFY_MS : MAX_RESIDENCE_MS
  for (const slot of context.ledger.slots) {
    const label = `${slot.peer.client}/${slot.peer.participantId} slot ${slot.mid}`
    if (slot.retransmitted.length > slot.nackedSeqs) {
      report(
        `${label}: ${slot.retransmitted.length} retransmissions for ${slot.nackedSeqs} NACKed sequence numbers`
      )
    }
    for (const packet of slot.sent) {
      if (!packet.info) continue
      const times = context.ledger.arrivals.get(streamKey(packet.info))?.get(packet.info.useq) ?? []
      const arrivedAt = times.filter((t) => t <= packet.t).at(-1)
      if (arrivedAt !== undefined && packet.t - arrivedAt > residenceLimit) {
        report(`${label}: a packet waited ${packet.t - arrivedAt} ms in the server (sent t=${packet.t})`)
        break
      }
    }
  }

  if (!context.buggify) {
    const { droppedSubscriberQueue, droppedPublisherQueue } = context.counters
    if (droppedSubscriberQueue + droppedPublisherQueue > 0) {
      report(
        `queues overflowed: ${droppedPublisherQueue} publisher and ${droppedSubscriberQueue} subscriber drops`
      )
    }
  }

  return violations
}
