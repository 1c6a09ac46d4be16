import { describe, expect, it } from "vitest"
import { Emitter } from "../../client/src/emitter.ts"

type Events = { state: string; track: { mid: string }; topic: string }

describe("Emitter", () => {
  it("replays the latest sticky value per key to a late listener, and nothing for plain events", () => {
    const errors: Array<unknown> = []
    const events = new Emitter<Events>(["state", "track"], (e) => errors.push(e))
    events.emit("state", "connecting")
    events.emit("state", "connected")
    events.emit("track", { mid: "1" }, "1")
    events.emit("track", { mid: "2" }, "2")
    events.emit("topic", "hello")
    const seen: Array<string> = []
    events.on("state", (s) => seen.push(`state ${s}`))
    events.on("track", (t) => seen.push(`track ${t.mid}`))
    events.on("topic", (t) => seen.push(`topic ${t}`))
    expect(seen).toEqual(["state connected", "track 1", "track 2"])
    events.emit("topic", "again")
    expect(seen.at(-1)).toBe("topic again")
    expect(errors).toEqual([])
  })

  it("a throwing listener does not stop the others; its error is reported", () => {
    const errors: Array<unknown> = []
    const events = new Emitter<Events>([], (e) => errors.push(e))
    const seen: Array<string> = []
    events.on("topic", () => {
      throw new Error("boom")
    })
    const off = events.on("topic", (t) => seen.push(t))
    events.emit("topic", "a")
    off()
    events.emit("topic", "b")
    expect(seen).toEqual(["a"])
    expect(errors).toHaveLength(2)
  })
})
