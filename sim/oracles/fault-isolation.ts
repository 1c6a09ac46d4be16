import type { SimClient } from "../clients/sim-client.ts"
import { streamKey } from "../media/payload.ts"
import type { Ledger } from "../observe/ledger.ts"

export interface IsolationWindow {
  readonly startedAt: number
  /** Packets lost to counted queue drops and injected send failures before the window. */
  readonly dropsBefore: number
}

/** Counted queue drops plus injected send failures, so far. */
export type DropCount = () => number

export const startIsolationWindow = (drops: DropCount, now: number): IsolationWindow => ({
  startedAt: now,
  dropsBefore: drops()
})

/** Packets that reached the server and are not sent on a healthy slot, beyond the drops the server counted. */
const MAX_MISSING_SHARE = 0.01
/** Packets that arrive this close to the end of the window may not be sent yet. */
const SETTLE_MS = 100

/**
 * For every slot of a connected client that is not a victim and that carried one stream
 * for the whole window: the packets of that stream that reached the server during the
 * window and were not sent on the slot must be explained by drops the server counted
 * or injected send failures, never by another subscriber being slow.
 */
export const measureIsolation = (
  window: IsolationWindow,
  ledger: Ledger,
  drops: DropCount,
  clients: ReadonlyArray<SimClient>,
  victims: ReadonlyArray<string>,
  now: number
): string[] => {
  const problems: string[] = []
  const from = window.startedAt
  for (const slot of ledger.slots) {
    const client = clients.find((c) => c.name === slot.peer.client)
    if (!client || victims.includes(client.name)) continue
    if (slot.peer.closedAt !== undefined || client.current?.participantId !== slot.peer.participantId)
      continue
    const before = slot.sent.filter((p) => p.t < from).at(-1)
    const during = slot.sent.filter((p) => p.t >= from && p.t <= now)
    if (!before?.info || during.length === 0) continue
    const stream = streamKey(before.info)
    if (during.some((p) => !p.info || streamKey(p.info) !== stream)) continue
    const arrivals = ledger.arrivals.get(stream)
    if (!arrivals) continue
    const sent = new Set(during.map((p) => p.info!.useq))
    for (const p of slot.retransmitted)
      if (p.t >= from && p.info && streamKey(p.info) === stream) sent.add(p.info.useq)
    let expected = 0
    let got = 0
    for (const [useq, [at = 0]] of arrivals) {
      // Stragglers from before the window (late retransmissions) may predate where the slot started.
      if (at < from || at > now - SETTLE_MS || useq <= before.info.useq) continue
      expected++
      if (sent.has(useq)) got++
    }
    const explained = drops() - window.dropsBefore
    if (expected - got > explained + MAX_MISSING_SHARE * expected) {
      problems.push(
        `${client.name} slot ${slot.mid} got ${got} of ${expected} packets of ${stream} (${explained} counted drops) while ${victims.join(", ")} struggled`
      )
    }
  }
  return problems
}
