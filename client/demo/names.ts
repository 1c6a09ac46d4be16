import type { Roster } from "../src/index.ts"

/** What the page calls a participant: their chosen name, or a short form of their id. */
export const displayName = (roster: Roster, participantId: string | null): string => {
  if (participantId === null) return "nobody"
  const participant = roster.get(participantId)
  if (participant?.name) return participant.name
  if (participant?.role === "whip") return `stream ${participantId.slice(-4)}`
  return `guest ${participantId.slice(-4)}`
}

/** "1.2 Mbit/s", "480 kbit/s". */
export const formatBitrate = (bps: number | null): string => {
  if (bps === null) return "…"
  if (bps >= 1_000_000) return `${(bps / 1_000_000).toFixed(1)} Mbit/s`
  return `${Math.round(bps / 1000)} kbit/s`
}
