import type { Participant, Publication } from "../../src/protocol/control-protocol.ts"

/** The body of a `roster-diff` message. */
export interface RosterChange {
  readonly joined: ReadonlyArray<Participant>
  readonly left: ReadonlyArray<string>
  readonly published: ReadonlyArray<{ readonly participantId: string; readonly publication: Publication }>
  readonly unpublished: ReadonlyArray<string>
  readonly updated?: ReadonlyArray<Participant>
}

/** The room's participants by id, in the order they joined. Immutable: each change makes a new one. */
export type Roster = ReadonlyMap<string, Participant>

export const emptyRoster: Roster = new Map()

/** The roster a `roster` snapshot describes (a later entry with the same id wins). */
export const rosterFromSnapshot = (participants: ReadonlyArray<Participant>): Roster =>
  new Map(participants.map((p) => [p.id, p]))

/**
 * Applies one `roster-diff`, in the order the server produced it: departures, arrivals,
 * updates (which keep a participant's place), new publications, withdrawn ones. A
 * publication for an unknown participant is ignored; one with a known track id replaces it.
 */
export const applyRosterChange = (roster: Roster, change: RosterChange): Roster => {
  const next = new Map(roster)
  for (const id of change.left) next.delete(id)
  for (const participant of change.joined) {
    next.delete(participant.id)
    next.set(participant.id, participant)
  }
  for (const participant of change.updated ?? []) {
    if (next.has(participant.id)) next.set(participant.id, participant)
  }
  for (const { participantId, publication } of change.published) {
    const participant = next.get(participantId)
    if (participant === undefined) continue
    next.set(participantId, {
      ...participant,
      publications: [
        ...participant.publications.filter((p) => p.trackId !== publication.trackId),
        publication
      ]
    })
  }
  if (change.unpublished.length > 0) {
    const gone = new Set(change.unpublished)
    for (const [id, participant] of next) {
      if (participant.publications.some((p) => gone.has(p.trackId))) {
        next.set(id, {
          ...participant,
          publications: participant.publications.filter((p) => !gone.has(p.trackId))
        })
      }
    }
  }
  return next
}

/** The participant who publishes `trackId`, if the roster knows it. */
export const publisherOf = (roster: Roster, trackId: string): Participant | undefined => {
  for (const participant of roster.values()) {
    if (participant.publications.some((p) => p.trackId === trackId)) return participant
  }
  return undefined
}
