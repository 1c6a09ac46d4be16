import { Effect, Metric } from "effect"
import * as M from "../../src/observability/metrics.ts"
import type { RoomRegistry } from "../../src/room/room-registry.ts"
import type { FiberCensus } from "../engine/fiber-census.ts"
import type { Ledger } from "../observe/ledger.ts"
import type { Violation } from "./violation.ts"

export interface CleanupProbe {
  readonly registry: (typeof RoomRegistry)["Service"]
  readonly ledger: Ledger
  readonly census: FiberCensus
  /** Fibers alive before anyone joined. */
  readonly baselineFibers: number
}

/**
 * After everyone has left or crashed and the timeouts have passed, nothing remains: no
 * room, no participant or publication in the gauges, no open connection, and no fiber
 * (every queue consumer and every timer is one) beyond those alive before anyone joined.
 */
export const checkCleanup = (probe: CleanupProbe): Effect.Effect<Violation[]> =>
  Effect.gen(function* () {
    const violations: Violation[] = []
    const report = (message: string) => violations.push({ oracle: "cleanup", message })
    const rooms = yield* probe.registry.list
    for (const room of rooms) {
      report(`room ${room.name} still open with ${room.participants.map((p) => p.id).join(", ") || "nobody"}`)
    }
    for (const [name, gauge] of [
      ["rooms", M.roomsOpen],
      ["participants", M.participantsConnected],
      ["publications", M.publicationsActive]
    ] as const) {
      const { value } = yield* Metric.value(gauge)
      if (value !== 0) report(`gauge prism_${name} is ${value}, expected 0`)
    }
    if (probe.ledger.openPeers !== 0) {
      const open = probe.ledger.peers
        .filter((p) => p.closedAt === undefined)
        .map((p) => `${p.client}/${p.participantId}`)
      report(`${probe.ledger.openPeers} connections still open: ${open.join(", ")}`)
    }
    if (probe.census.alive !== probe.baselineFibers) {
      report(`${probe.census.alive} fibers alive, ${probe.baselineFibers} before anyone joined`)
    }
    return violations
  })
