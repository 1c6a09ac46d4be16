import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { CodecName } from "../../src/media/codec.ts"
import { assignSlots, type BindablePublication, type BindableSlot } from "../../src/room/slot-binding.ts"

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
})
