import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  applyRosterChange,
  publisherOf,
  type RosterChange,
  rosterFromSnapshot
} from "../../client/src/roster.ts"
import type { Participant, Publication } from "../../src/protocol/control-protocol.ts"

const ids = fc.constantFrom("p1", "p2", "p3", "p4", "p5")
const trackIds = fc.constantFrom("t1", "t2", "t3", "t4", "t5", "t6")

const publication = (trackId: string, kind: "audio" | "video" = "video"): Publication => ({
  trackId,
  kind,
  codec: kind === "video" ? "VP8" : "opus",
  layers: []
})

const participantArb: fc.Arbitrary<Participant> = fc.record({
  id: ids,
  name: fc.option(fc.string({ maxLength: 8 }), { nil: null }),
  role: fc.constantFrom("participant" as const, "whip" as const, "whep" as const),
  publications: fc.uniqueArray(trackIds, { maxLength: 3 }).map((ts) => ts.map((t) => publication(t)))
})

const changeArb: fc.Arbitrary<RosterChange> = fc.record({
  joined: fc.array(participantArb, { maxLength: 3 }),
  left: fc.array(ids, { maxLength: 2 }),
  published: fc.array(
    fc.record({ participantId: ids, publication: trackIds.map((t) => publication(t, "audio")) }),
    {
      maxLength: 3
    }
  ),
  unpublished: fc.array(trackIds, { maxLength: 2 }),
  updated: fc.array(participantArb, { maxLength: 2 })
})

describe("roster", () => {
  it("a snapshot then diffs: departures gone, arrivals present, keys are participant ids", () => {
    fc.assert(
      fc.property(
        fc.array(participantArb, { maxLength: 5 }),
        fc.array(changeArb, { maxLength: 6 }),
        (snapshot, changes) => {
          let roster = rosterFromSnapshot(snapshot)
          for (const change of changes) {
            const before = roster
            roster = applyRosterChange(roster, change)
            expect(before).not.toBe(roster)
            for (const [id, participant] of roster) expect(participant.id).toBe(id)
            const joined = new Set(change.joined.map((p) => p.id))
            for (const id of change.left) if (!joined.has(id)) expect(roster.has(id)).toBe(false)
            for (const p of change.joined) expect(roster.has(p.id)).toBe(true)
            // A withdrawn track is published by nobody, unless this same change published it again.
            const republished = new Set(change.published.map((p) => p.publication.trackId))
            for (const t of change.unpublished) {
              if (!republished.has(t)) expect(publisherOf(roster, t)).toBeUndefined()
            }
            // No participant lists a track twice.
            for (const p of roster.values()) {
              const tracks = p.publications.map((x) => x.trackId)
              expect(new Set(tracks).size).toBe(tracks.length)
            }
          }
        }
      )
    )
  })

  it("an update keeps a participant's place in join order; an unknown one is ignored", () => {
    const roster = rosterFromSnapshot([
      { id: "a", name: "Ann", role: "participant", publications: [] },
      { id: "b", name: null, role: "participant", publications: [] }
    ])
    const next = applyRosterChange(roster, {
      joined: [],
      left: [],
      published: [],
      unpublished: [],
      updated: [
        { id: "a", name: "Annie", role: "participant", publications: [] },
        { id: "z", name: "Zed", role: "participant", publications: [] }
      ]
    })
    expect([...next.values()].map((p) => p.name)).toEqual(["Annie", null])
  })

  it("a publication moves to the roster entry of its participant and replaces one with the same track id", () => {
    const roster = rosterFromSnapshot([
      { id: "a", name: null, role: "participant", publications: [publication("t1")] }
    ])
    const next = applyRosterChange(roster, {
      joined: [],
      left: [],
      published: [
        { participantId: "a", publication: publication("t1", "audio") },
        { participantId: "ghost", publication: publication("t9") }
      ],
      unpublished: []
    })
    expect(next.get("a")?.publications).toEqual([publication("t1", "audio")])
    expect(publisherOf(next, "t9")).toBeUndefined()
    expect(roster.get("a")?.publications).toEqual([publication("t1")])
  })
})
