import { Effect } from "effect"
import type { RoomRegistry } from "../../src/room/room-registry.ts"
import type { Ledger } from "../observe/ledger.ts"
import type { Violation } from "./violation.ts"

/**
 * The rooms' own view agrees with the connections: every participant a room lists has an
 * open connection in that room, and every open connection is listed (no ghosts, no strays).
 */
export const checkRoomState = (
  registry: (typeof RoomRegistry)["Service"],
  ledger: Ledger
): Effect.Effect<Violation[]> =>
  Effect.gen(function* () {
    const violations: Violation[] = []
    const listed = new Set<string>()
    for (const room of yield* registry.list) {
      for (const participant of room.participants) listed.add(`${room.name}/${participant.id}`)
    }
    const open = new Set(
      ledger.peers.filter((p) => p.closedAt === undefined).map((p) => `${p.room}/${p.participantId}`)
    )
    for (const id of listed) {
      if (!open.has(id))
        violations.push({ oracle: "room-state", message: `${id} is listed without a connection` })
    }
    for (const id of open) {
      if (!listed.has(id))
        violations.push({ oracle: "room-state", message: `${id} has a connection but is not listed` })
    }
    return violations
  })
