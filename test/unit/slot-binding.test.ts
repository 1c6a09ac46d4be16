import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { CodecName } from "../../src/media/codec.ts"
import {
  assignSlots,
  type BindablePublication,
  type BindableSlot,
  type SubscriberIntent
} from "../../src/room/slot-binding.ts"

const codec = fc.constantFrom<CodecName>("VP8", "VP9", "H264", "opus")
const kind = fc.constantFrom<"audio" | "video">("audio", "video")
const owner = fc.constantFrom("a", "b", "c", "d")

const publications = fc
  .array(fc.record({ ownerId: owner, kind, codec }), { maxLength: 8 })
  .map((ps): BindablePublication[] => ps.map((p, i) => ({ ...p, id: `t${i}` })))

const slots = fc
  .array(
    fc.record({ ownerId: owner, kind, codecs: fc.subarray<CodecName>(["VP8", "VP9", "H264", "opus"]) }),
    {
      maxLength: 10
    }
  )
  .map((ss): BindableSlot[] => ss.map((s, i) => ({ ...s, key: `s${i}`, boundTo: undefined })))

describe("slot binding", () => {
  it("binds only compatible, foreign, not-yet-received tracks, and leaves no free slot that could be filled", () => {
    fc.assert(
      fc.property(publications, slots, (pubs, free) => {
        const assignment = assignSlots(pubs, free)
        const byId = new Map(pubs.map((p) => [p.id, p]))
        const receivedBy = new Map<string, string[]>()
        for (const slot of free) {
          const id = assignment.get(slot.key)
          if (id === undefined) continue
          const pub = byId.get(id)!
          expect(pub.kind).toBe(slot.kind)
          expect(pub.ownerId).not.toBe(slot.ownerId)
          expect(slot.codecs).toContain(pub.codec)
          receivedBy.set(slot.ownerId, [...(receivedBy.get(slot.ownerId) ?? []), id])
        }
        for (const ids of receivedBy.values()) expect(new Set(ids).size).toBe(ids.length)
        for (const slot of free) {
          if (assignment.has(slot.key)) continue
          const got = new Set(receivedBy.get(slot.ownerId) ?? [])
          const eligible = pubs.filter(
            (p) =>
              p.kind === slot.kind &&
              p.ownerId !== slot.ownerId &&
              slot.codecs.includes(p.codec) &&
              !got.has(p.id)
          )
          expect(eligible).toEqual([])
        }
      }),
      { seed: 42, numRuns: 300 }
    )
  })

  it("never leaves a slot on a publication that delivers nothing while one that flows is free for it", () => {
    const mixed = fc
      .array(fc.record({ ownerId: owner, kind, codec, flowing: fc.boolean() }), { maxLength: 8 })
      .map((ps): BindablePublication[] => ps.map((p, i) => ({ ...p, id: `t${i}` })))
    const bound = (pubs: ReadonlyArray<BindablePublication>) =>
      fc
        .array(
          fc.record({
            ownerId: owner,
            kind,
            codecs: fc.subarray<CodecName>(["VP8", "VP9", "H264", "opus"]),
            bound: fc.option(fc.nat({ max: 7 }), { nil: undefined })
          }),
          { maxLength: 10 }
        )
        .map((ss): BindableSlot[] =>
          ss.map((s, i) => ({
            key: `s${i}`,
            ownerId: s.ownerId,
            kind: s.kind,
            codecs: s.codecs,
            boundTo: s.bound === undefined ? undefined : pubs[s.bound]?.id
          }))
        )
    fc.assert(
      fc.property(
        mixed.chain((pubs) => fc.tuple(fc.constant(pubs), bound(pubs))),
        ([pubs, slotList]) => {
          const changes = assignSlots(pubs, slotList)
          const byId = new Map(pubs.map((p) => [p.id, p]))
          const final = new Map(
            slotList.map((s) => [s.key, changes.has(s.key) ? changes.get(s.key) : s.boundTo])
          )
          const received = new Map<string, Set<string>>()
          for (const slot of slotList) {
            const id = final.get(slot.key)
            if (id === undefined) continue
            const set = received.get(slot.ownerId) ?? new Set()
            expect(set.has(id)).toBe(false)
            set.add(id)
            received.set(slot.ownerId, set)
          }
          for (const slot of slotList) {
            const id = final.get(slot.key)
            if (id !== undefined && byId.get(id)?.flowing) continue
            const freeFlowing = pubs.filter(
              (p) =>
                p.flowing &&
                p.kind === slot.kind &&
                p.ownerId !== slot.ownerId &&
                slot.codecs.includes(p.codec) &&
                !received.get(slot.ownerId)?.has(p.id)
            )
            expect(
              freeFlowing.map((p) => p.id),
              `slot ${slot.key} on ${id ?? "nothing"}`
            ).toEqual([])
          }
        }
      ),
      { seed: 7, numRuns: 500 }
    )
  })

  it("gives the oldest eligible publication first and keeps existing bindings", () => {
    const pubs: BindablePublication[] = [
      { id: "old", ownerId: "a", kind: "video", codec: "VP8" },
      { id: "new", ownerId: "b", kind: "video", codec: "VP8" }
    ]
    const fresh = assignSlots(pubs, [
      { key: "s", ownerId: "c", kind: "video", codecs: ["VP8"], boundTo: undefined }
    ])
    expect(fresh.get("s")).toBe("old")
    const kept = assignSlots(pubs, [
      { key: "s1", ownerId: "c", kind: "video", codecs: ["VP8"], boundTo: "new" },
      { key: "s2", ownerId: "c", kind: "video", codecs: ["VP8"], boundTo: undefined }
    ])
    expect(kept.has("s1")).toBe(false)
    expect(kept.get("s2")).toBe("old")
  })

  it("rebinds a slot whose track disappeared", () => {
    const pubs: BindablePublication[] = [{ id: "other", ownerId: "b", kind: "audio", codec: "opus" }]
    const result = assignSlots(pubs, [
      { key: "s", ownerId: "c", kind: "audio", codecs: ["opus"], boundTo: "gone" }
    ])
    expect(result.get("s")).toBe("other")
  })

  it("honours requested tracks and manual mode, and never binds a participant's own or a duplicate track", () => {
    const withSpeech = fc
      .array(
        fc.record({
          ownerId: owner,
          kind,
          codec,
          level: fc.double({ min: 0, max: 1, noNaN: true }),
          active: fc.boolean(),
          ranked: fc.boolean()
        }),
        { maxLength: 8 }
      )
      .map((ps): BindablePublication[] =>
        ps.map((p, i) => ({
          id: `t${i}`,
          ownerId: p.ownerId,
          kind: p.kind,
          codec: p.codec,
          speech: p.ranked
            ? { ranked: true, level: p.level, speaking: p.active, active: p.active }
            : undefined
        }))
      )
    const anySlots = fc
      .array(
        fc.record({
          ownerId: owner,
          kind,
          codecs: fc.subarray<CodecName>(["VP8", "VP9", "H264", "opus"]),
          bound: fc.integer({ min: -1, max: 9 }),
          requested: fc.integer({ min: -4, max: 9 })
        }),
        { maxLength: 10 }
      )
      .map((ss): BindableSlot[] =>
        ss.map((s, i) => ({
          key: `s${i}`,
          ownerId: s.ownerId,
          kind: s.kind,
          codecs: s.codecs,
          boundTo: s.bound < 0 ? undefined : `t${s.bound}`,
          requested: s.requested < 0 ? undefined : `t${s.requested}`
        }))
      )
    const intents = fc
      .record({ a: fc.boolean(), b: fc.boolean(), c: fc.boolean(), d: fc.boolean() })
      .map(
        (manual) =>
          new Map<string, SubscriberIntent>(
            Object.entries(manual).map(([id, m]) => [id, { manual: m, pins: ["t0", "t3"] }])
          )
      )
    fc.assert(
      fc.property(withSpeech, anySlots, intents, (pubs, all, intentMap) => {
        const changes = assignSlots(pubs, all, { intents: intentMap })
        const byId = new Map(pubs.map((p) => [p.id, p]))
        const final = new Map(all.map((s) => [s.key, changes.has(s.key) ? changes.get(s.key) : s.boundTo]))
        const receivedBy = new Map<string, string[]>()
        for (const slot of all) {
          const id = final.get(slot.key)
          if (id === undefined) {
            if (slot.requested !== undefined) {
              const wanted = byId.get(slot.requested)
              const ok =
                wanted &&
                wanted.kind === slot.kind &&
                wanted.ownerId !== slot.ownerId &&
                slot.codecs.includes(wanted.codec) &&
                !all.some(
                  (o) =>
                    o.ownerId === slot.ownerId && o.key !== slot.key && final.get(o.key) === slot.requested
                )
              expect(ok, "a requested, eligible track was not bound").toBeFalsy()
            }
            continue
          }
          const pub = byId.get(id)
          expect(pub).toBeDefined()
          expect(pub!.kind).toBe(slot.kind)
          expect(pub!.ownerId).not.toBe(slot.ownerId)
          expect(slot.codecs).toContain(pub!.codec)
          if (slot.requested !== undefined) expect(id).toBe(slot.requested)
          else
            expect(intentMap.get(slot.ownerId)?.manual, "manual mode bound an unrequested slot").toBe(false)
          receivedBy.set(slot.ownerId, [...(receivedBy.get(slot.ownerId) ?? []), id])
        }
        for (const ids of receivedBy.values()) expect(new Set(ids).size).toBe(ids.length)
      }),
      { seed: 43, numRuns: 500 }
    )
  })

  it("gives audio slots to the active speakers and keeps one's own audio off one's slots", () => {
    const speaking = (level: number) => ({ ranked: true, level, speaking: true, active: true })
    const silent = { ranked: true, level: 0, speaking: false, active: false }
    const pubs: BindablePublication[] = [
      { id: "a:audio", ownerId: "a", kind: "audio", codec: "opus", speech: silent },
      { id: "b:audio", ownerId: "b", kind: "audio", codec: "opus", speech: speaking(0.7) },
      { id: "c:audio", ownerId: "c", kind: "audio", codec: "opus", speech: speaking(0.9) }
    ]
    const changes = assignSlots(pubs, [
      { key: "b/1", ownerId: "b", kind: "audio", codecs: ["opus"], boundTo: undefined },
      { key: "d/1", ownerId: "d", kind: "audio", codecs: ["opus"], boundTo: "a:audio" }
    ])
    expect(changes.get("b/1")).toBe("c:audio")
    expect(changes.get("d/1")).toBe("c:audio")
  })
})
