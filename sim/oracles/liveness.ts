import type { SimClient } from "../clients/sim-client.ts"

/** What counts as "receiving" a publication: something decoded from it this recently. */
export const RECENT_MS = 2000

const live = (client: SimClient): boolean =>
  client.state === "connected" &&
  client.current !== undefined &&
  !client.stuck &&
  !client.up.isPartitioned &&
  !client.down.isPartitioned

/**
 * Every live client receives every publication of every other live client in its room
 * that it has a free slot of the right kind (and codec) for; with more publications than
 * slots, every slot carries something. Returns what is missing, empty when live.
 */
export const checkLiveness = (clients: ReadonlyArray<SimClient>, now: number): string[] => {
  const problems: string[] = []
  for (const subscriber of clients) {
    const session = subscriber.current
    if (!live(subscriber) || !session || subscriber.spec.role === "whip") continue
    for (const kind of ["audio", "video"] as const) {
      const receivers = [...session.receivers.values()].filter((r) => r.kind === kind)
      if (receivers.length === 0) continue
      if (kind === "video" && !subscriber.spec.videoCodecs.includes("VP8")) continue
      const expected: Array<{ key: string; label: string }> = []
      for (const publisher of clients) {
        const published = publisher.current
        if (publisher === subscriber || publisher.spec.room !== subscriber.spec.room) continue
        if (!live(publisher) || !published || publisher.spec.role === "whep") continue
        for (const track of published.publishers) {
          if (track.spec.kind !== kind) continue
          expected.push({
            key: `${publisher.index}.${published.generation}/${track.track}`,
            label: `${publisher.name}'s ${kind}`
          })
        }
      }
      const recent = (at: number | undefined) => at !== undefined && now - at <= RECENT_MS
      if (expected.length <= receivers.length) {
        for (const { key, label } of expected) {
          if (!receivers.some((r) => recent(r.lastDecodedFrom.get(key)))) {
            problems.push(`${subscriber.name} does not receive ${label}`)
          }
        }
      } else {
        for (const receiver of receivers) {
          if (!recent(receiver.lastFrameAt))
            problems.push(`${subscriber.name}'s ${kind} slot ${receiver.mid} is idle`)
        }
      }
    }
  }
  return problems
}
