import type { OracleContext } from "./context.ts"
import type { Violation } from "./violation.ts"

const MAX_REPORTED = 5

/**
 * No packet crosses rooms; no participant is sent its own media; nothing arrives on an
 * m-line that is not a slot. (A client that rejoins without closing its old connection is
 * two participants to the server until the old one times out, and may get the last
 * packets its old session had in flight: participants have no identity beyond a session.)
 */
export const checkIsolation = (context: OracleContext): Violation[] => {
  const violations: Violation[] = []
  const report = (message: string) => {
    if (violations.length < MAX_REPORTED) violations.push({ oracle: "isolation", message })
  }
  const participantOf = (origin: number, session: number) =>
    context.clients[origin]?.sessions.find((s) => s.generation === session)?.participantId
  for (const slot of context.ledger.slots) {
    for (const packet of [...slot.sent, ...slot.retransmitted]) {
      if (!packet.info) {
        report(`${slot.peer.client} slot ${slot.mid} was sent a packet no publisher made (seq ${packet.seq})`)
        continue
      }
      const origin = context.clients[packet.info.origin]
      if (!origin) {
        report(
          `${slot.peer.client} slot ${slot.mid} was sent a packet of unknown origin ${packet.info.origin}`
        )
      } else if (origin.spec.room !== slot.peer.room) {
        report(
          `${origin.name}'s media (room ${origin.spec.room}) reached ${slot.peer.client} in room ${slot.peer.room} at t=${packet.t}`
        )
      } else if (participantOf(packet.info.origin, packet.info.session) === slot.peer.participantId) {
        report(
          `${slot.peer.participantId} (${slot.peer.client}) was sent its own media on slot ${slot.mid} at t=${packet.t}`
        )
      }
    }
  }
  for (const client of context.clients) {
    if (client.unexpectedPackets > 0) {
      report(`${client.name} got ${client.unexpectedPackets} RTP packets on m-lines that are not its slots`)
    }
  }
  return violations
}
