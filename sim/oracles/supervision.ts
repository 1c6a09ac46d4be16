import type { BuggifySite } from "../../src/fault/buggify.ts"
import type { Ledger } from "../observe/ledger.ts"
import type { Violation } from "./violation.ts"

/** A fiber the simulation killed on purpose (a `fiber.*` buggify site), and what it belonged to. */
export interface KilledFiber {
  readonly site: BuggifySite
  /** The participant id, or the room name for `fiber.room`. */
  readonly subject: string
  readonly atMs: number
  /** How many connections the ledger had recorded by then: later ones came after the kill. */
  readonly peersBefore: number
}

/** How long the server may take to take down what a failed fiber belonged to. */
export const SUPERVISION_DEADLINE_MS = 1000

/**
 * Supervision: after a participant's fiber failed, that participant is gone (the server closed
 * its connection) within a second; after a room's fiber failed, so is everyone who was in the
 * room then. What happens to the others is judged by the other oracles.
 */
export const checkSupervision = (killed: ReadonlyArray<KilledFiber>, ledger: Ledger): Violation[] => {
  const violations: Violation[] = []
  for (const kill of killed) {
    const hit = ledger.peers
      .slice(0, kill.peersBefore)
      .filter((peer) =>
        kill.site === "fiber.room"
          ? peer.room === kill.subject && (peer.closedAt === undefined || peer.closedAt >= kill.atMs)
          : peer.participantId === kill.subject
      )
    for (const peer of hit) {
      if (peer.closedAt !== undefined && peer.closedAt <= kill.atMs + SUPERVISION_DEADLINE_MS) continue
      violations.push({
        oracle: "supervision",
        message:
          `${kill.site} of ${kill.subject} failed at t=${kill.atMs}ms, but ${peer.client}/${peer.participantId}` +
          ` was ${peer.closedAt === undefined ? "never closed" : `closed only at t=${peer.closedAt}ms`}`
      })
    }
  }
  return violations
}
