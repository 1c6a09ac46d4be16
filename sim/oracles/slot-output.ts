import { SequenceUnwrapper, tsDiff } from "../../src/media/sequence-number.ts"
import { streamKey } from "../media/payload.ts"
import type { SentPacket, SlotRecord } from "../observe/ledger.ts"
import { fired, type OracleContext } from "./context.ts"
import type { Violation } from "./violation.ts"

const MAX_REPORTED = 8

interface Entry {
  readonly u: number
  readonly packet: SentPacket
  readonly run: string
}

const describe = (p: SentPacket) =>
  p.info ? `${streamKey(p.info)} publisher seq ${p.info.useq} ts ${p.ts}` : `unknown ts ${p.ts}`

const sameContent = (a: SentPacket, b: SentPacket) =>
  a.info !== undefined &&
  b.info !== undefined &&
  streamKey(a.info) === streamKey(b.info) &&
  a.info.useq === b.info.useq

/**
 * What the server sent on each subscription slot (judged before the subscriber's own
 * link loses anything):
 * - one fixed SSRC, the one the answer announced;
 * - a sequence number never stands for two different packets, and the numbers are
 *   continuous apart from packets that never reached the server, reached it too late, or
 *   that the server says it dropped (queue overflow, injected send failures);
 * - timestamps never go backwards in sequence order;
 * - each run of one source (a bind, a rebind or a layer switch starts a new one) starts
 *   with the first packet of a keyframe, so no frame's reference chain is broken;
 * - a retransmission carries the packet first sent under its sequence number.
 */
export const checkSlotOutput = (context: OracleContext): Violation[] => {
  const violations: Violation[] = []
  const report = (message: string) => {
    if (violations.length < MAX_REPORTED) violations.push({ oracle: "slot-output", message })
  }
  for (const client of context.clients) {
    for (const session of client.sessions) {
      for (const receiver of session.receivers.values()) {
        const others = [...receiver.ssrcs].filter((s) => s !== receiver.expectedSsrc)
        if (others.length > 0) {
          report(
            `${client.name} slot ${receiver.mid} got SSRCs ${others.join(",")}, announced ${receiver.expectedSsrc}`
          )
        }
      }
    }
  }
  let unexplained = 0
  const examples: string[] = []
  for (const slot of context.ledger.slots) {
    const holes = checkSlot(slot, context, report)
    unexplained += holes.length
    examples.push(...holes.slice(0, process.env.ALLHOLES ? 1000 : 3))
  }
  // Injected inbox drops are not arrivals (the transport says which packets they hit); these are per slot.
  const allowed = context.counters.droppedSubscriberQueue + fired(context, "slot.send-failed")
  if (unexplained > allowed) {
    report(
      `${unexplained} sequence numbers skipped for packets the server had, ${allowed} explained by counted drops: ${examples.slice(0, process.env.ALLHOLES ? 1000 : 5).join("; ")}`
    )
  }
  return violations
}

/** Checks one slot; returns its holes that nothing explains. */
const checkSlot = (slot: SlotRecord, context: OracleContext, report: (message: string) => void): string[] => {
  const label = `${slot.peer.client}/${slot.peer.participantId} slot ${slot.mid}`
  const unwrapper = new SequenceUnwrapper()
  const byU = new Map<number, Entry>()
  for (const packet of slot.sent) {
    const u = unwrapper.unwrap(packet.seq)
    const run = packet.info ? `${streamKey(packet.info)}@${u - packet.info.useq}` : "?"
    const existing = byU.get(u)
    if (existing) {
      if (!sameContent(existing.packet, packet)) {
        report(
          `${label}: sequence number ${packet.seq} sent for two different packets (t=${existing.packet.t}, t=${packet.t})`
        )
      }
      continue
    }
    byU.set(u, { u, packet, run })
  }
  // A packet first seen as a retransmission (its send failed) still has its place in the sequence.
  for (const packet of slot.retransmitted) {
    const u = unwrapper.unwrap(packet.seq)
    if (byU.has(u) || !packet.info) continue
    byU.set(u, { u, packet, run: `${streamKey(packet.info)}@${u - packet.info.useq}` })
  }
  const entries = [...byU.values()].sort((a, b) => a.u - b.u)
  const retransmitted = new Set(slot.retransmitted.map((p) => p.seq))
  const sendFailures = fired(context, "slot.send-failed") > 0
  // A run is over once the next one (in sequence order) starts, or the subscriber is gone: packets of it
  // arriving later are not owed.
  const runStart = new Map<string, number>()
  for (const e of entries)
    runStart.set(e.run, Math.min(runStart.get(e.run) ?? Number.POSITIVE_INFINITY, e.packet.t))
  const runOver = new Map<string, number>()
  for (let i = 1; i < entries.length; i++) {
    const [before, after] = [entries[i - 1]!, entries[i]!]
    if (before.run !== after.run && !runOver.has(before.run))
      runOver.set(before.run, runStart.get(after.run)!)
  }
  const holes: string[] = []
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!
    const previous = entries[i - 1]
    if (previous && tsDiff(entry.packet.ts, previous.packet.ts) < 0) {
      report(
        `${label}: timestamp goes back at seq ${entry.packet.seq} (${previous.packet.ts} -> ${entry.packet.ts})`
      )
    }
    const startsRun = !previous || previous.run !== entry.run
    const startLost = sendFailures && (previous === undefined || previous.u !== entry.u - 1)
    if (startsRun && slot.kind === "video" && !entry.packet.keyframeStart && !startLost) {
      report(
        `${label}: output from ${entry.packet.info ? streamKey(entry.packet.info) : "?"} starts at seq ${entry.packet.seq} (t=${entry.packet.t}) with frame ${entry.packet.info?.frame} packet ${entry.packet.info?.index}, not a keyframe`
      )
    }
    if (!previous) continue
    for (let u = previous.u + 1; u < entry.u; u++) {
      if (retransmitted.has(u & 0xffff)) continue
      if (previous.run === entry.run && entry.packet.info) {
        const useq = u - (entry.u - entry.packet.info.useq)
        const arrivedAt = context.ledger.arrivals.get(streamKey(entry.packet.info))?.get(useq)?.[0]
        const over = runOver.get(entry.run) ?? slot.peer.closedAt ?? Number.POSITIVE_INFINITY
        if (arrivedAt === undefined || arrivedAt >= over) continue
        holes.push(`${label} skipped seq ${u & 0xffff} (publisher seq ${useq} arrived t=${arrivedAt})`)
      } else {
        holes.push(`${label} skipped seq ${u & 0xffff} between two sources`)
      }
    }
  }
  const sentBySeq = new Map<number, SentPacket[]>()
  for (const packet of slot.sent) {
    const list = sentBySeq.get(packet.seq)
    if (list) list.push(packet)
    else sentBySeq.set(packet.seq, [packet])
  }
  for (const packet of slot.retransmitted) {
    const original = sentBySeq
      .get(packet.seq)
      ?.filter((p) => p.t <= packet.t)
      .at(-1)
    // An injected send failure leaves no record of the original send to compare with.
    if (!original && fired(context, "slot.send-failed") > 0) continue
    if (!original || !sameContent(original, packet) || original.ts !== packet.ts) {
      const what = original
        ? `sent at t=${original.t} as ${describe(original)}, resent as ${describe(packet)}`
        : `never sent before (resent as ${describe(packet)})`
      report(
        `${label}: retransmission of seq ${packet.seq} at t=${packet.t} is not the packet sent under it: ${what}`
      )
    }
  }
  return holes
}
