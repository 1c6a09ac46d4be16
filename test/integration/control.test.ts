import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { MAX_MESSAGE_BYTES } from "../../src/protocol/control-protocol.ts"
import { ControlClient } from "../support/control-client.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { TestClient, waitFor } from "../support/werift-client.ts"

const metric = async (server: RunningServer, pattern: RegExp): Promise<number> => {
  const text = await (await fetch(`${server.internalUrl}/metrics`)).text()
  return text
    .split("\n")
    .filter((line) => pattern.test(line))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0)
}

/** Counters reach the metrics on the room's next tick. */
const metricReaches = async (server: RunningServer, pattern: RegExp, atLeast: number) => {
  const deadline = Date.now() + 5000
  let value = await metric(server, pattern)
  while (value < atLeast && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
    value = await metric(server, pattern)
  }
  return value
}

describe("control protocol over a data channel", () => {
  let server: RunningServer
  const clients: Array<{ close: () => Promise<void> }> = []
  const join = async (room: string, options: Parameters<typeof ControlClient.join>[2]) => {
    const client = await ControlClient.join(server.baseUrl, room, options)
    clients.push(client)
    return client
  }
  beforeAll(async () => {
    server = await startServer()
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
  })
  afterAll(async () => {
    await server.close()
  })

  it("sends welcome, roster and bindings, then diffs as others join and leave", async () => {
    const a = await join("ctl-roster", { publish: { audio: true }, subscribe: { video: 1, audio: 1 } })
    await a.ready()
    const [welcome, roster] = a.messages
    expect(welcome).toMatchObject({
      type: "welcome",
      participantId: a.participantId,
      room: "ctl-roster",
      mode: "auto"
    })
    expect(welcome?.type === "welcome" && welcome.slots.map((s) => s.kind).sort()).toEqual(["audio", "video"])
    expect(roster?.type === "roster" && roster.participants.map((p) => p.id)).toEqual([a.participantId])
    expect(a.bindings.every((b) => b.trackId === null && b.reason === "no-track")).toBe(true)

    const b = await join("ctl-roster", { publish: { video: true, audio: true }, tag: 2 })
    b.startPublishing()
    await a.waitFor("roster-diff", (d) => d.joined.some((p) => p.id === b.participantId))
    expect(
      a.participants
        .get(b.participantId)
        ?.publications.map((p) => p.kind)
        .sort()
    ).toEqual(["audio", "video"])
    await a.waitFor("bindings", (m) =>
      m.slots.some((s) => s.kind === "video" && s.participantId === b.participantId && s.reason === "ok")
    )
    const videoMid = a.bindings.find((s) => s.kind === "video")!.mid
    await waitFor(() => a.tagsOn(videoMid).includes(2), 5000, "B's video on A's slot")

    const c = await join("ctl-roster", { subscribe: { video: 1 } })
    await c.ready()
    const cRoster = c.ofType("roster")[0]!
    expect(cRoster.participants.map((p) => p.id).sort()).toEqual(
      [a.participantId, b.participantId, c.participantId].sort()
    )
    await a.waitFor("roster-diff", (d) => d.joined.some((p) => p.id === c.participantId))
    await c.leave()
    await a.waitFor("roster-diff", (d) => d.left.includes(c.participantId))
    await b.leave()
    await a.waitFor("roster-diff", (d) => d.left.includes(b.participantId))
    await a.waitFor("bindings", (m) => m.slots.every((s) => s.trackId === null))
    expect([...a.participants.keys()]).toEqual([a.participantId])
    expect(a.invalid).toEqual([])
  })

  it("binds what a manual-mode client subscribes to, and pauses on request", async () => {
    const b = await join("ctl-manual", { publish: { video: true }, tag: 2 })
    const c = await join("ctl-manual", { publish: { video: true }, tag: 3 })
    b.startPublishing()
    c.startPublishing()
    const a = await join("ctl-manual", { subscribe: { video: 1 } })
    await a.ready()
    const mid = a.bindings[0]!.mid
    // automatic: the oldest publication
    await a.waitFor("bindings", (m) => m.slots[0]?.participantId === b.participantId)
    a.send({ type: "mode", mode: "manual" })
    await a.waitFor("bindings", (m) => m.slots[0]?.trackId === null)
    const cTrack = a.participants.get(c.participantId)!.publications[0]!.trackId
    a.send({ type: "subscribe", mid, trackId: cTrack, maxHeight: 360 })
    await a.waitFor("bindings", (m) => m.slots[0]?.trackId === cTrack && m.slots[0]?.reason === "ok")
    const before = a.tagsOn(mid).length
    await waitFor(
      () =>
        a
          .tagsOn(mid)
          .slice(before)
          .filter((t) => t === 3).length > 10,
      5000,
      "C's video"
    )

    a.send({ type: "subscribe", mid, trackId: cTrack, paused: true })
    await a.waitFor("bindings", (m) => m.slots[0]?.paused === true && m.slots[0]?.reason === "client")
    await new Promise((r) => setTimeout(r, 300))
    const whilePaused = a.tagsOn(mid).length
    await new Promise((r) => setTimeout(r, 500))
    expect(a.tagsOn(mid).length).toBe(whilePaused)

    a.send({ type: "subscribe", mid, trackId: "nope", id: "r1" })
    const error = await a.waitFor("error", (e) => e.id === "r1")
    expect(error.code).toBe("unknown-track")
    expect(a.invalid).toEqual([])
  })

  it("unpublish removes a track from the others' rosters and bindings; publish brings it back", async () => {
    const b = await join("ctl-publish", { publish: { video: true }, tag: 2 })
    b.startPublishing()
    const a = await join("ctl-publish", { subscribe: { video: 1 } })
    await a.ready()
    const bTrack = a.participants.get(b.participantId)!.publications[0]!.trackId
    await a.waitFor("bindings", (m) => m.slots[0]?.trackId === bTrack)
    const publishedMid = bTrack.split(":").at(-1)!
    b.send({ type: "unpublish", mid: publishedMid })
    await a.waitFor("roster-diff", (d) => d.unpublished.includes(bTrack))
    expect(a.participants.get(b.participantId)?.publications).toEqual([])
    await a.waitFor("bindings", (m) => m.slots[0]?.trackId === null)
    b.send({ type: "publish", mid: publishedMid })
    await a.waitFor("roster-diff", (d) => d.published.some((p) => p.publication.trackId === bTrack))
    await a.waitFor("bindings", (m) => m.slots[0]?.trackId === bTrack, 5000, a.messages.length - 1)
    b.send({ type: "unpublish", mid: "99", id: "x" })
    expect((await b.waitFor("error", (e) => e.id === "x")).code).toBe("unknown-publication")
  })

  it("names participants with hello", async () => {
    const a = await join("ctl-hello", { subscribe: { audio: 1 } })
    const b = await join("ctl-hello", { subscribe: { audio: 1 } })
    await Promise.all([a.ready(), b.ready()])
    b.send({ type: "hello", name: "Bea" })
    await a.waitFor(
      "roster-diff",
      (d) => d.updated?.some((p) => p.id === b.participantId && p.name === "Bea") ?? false
    )
    expect(a.participants.get(b.participantId)?.name).toBe("Bea")
  })

  it("answers malformed and oversized messages with errors, counts them, and leaves the others alone", async () => {
    const rejectedBefore = await metric(server, /^prism_control_messages_rejected_total/)
    const b = await join("ctl-bad", { publish: { video: true }, tag: 2 })
    b.startPublishing()
    const a = await join("ctl-bad", { subscribe: { video: 1 } })
    const c = await join("ctl-bad", { subscribe: { video: 1 } })
    await Promise.all([a.ready(), c.ready()])
    a.sendRaw("{not json")
    a.send({ type: "subscribe", id: "bad-1", mid: 7 })
    a.send({ v: 2, type: "hello", name: "x", id: "bad-2" })
    a.sendRaw(JSON.stringify({ v: 1, type: "hello", name: "x".repeat(MAX_MESSAGE_BYTES), id: "bad-3" }))
    await a.waitFor("error", (e) => e.code === "too-large")
    const codes = a.ofType("error").map((e) => [e.code, e.id ?? null])
    expect(codes).toEqual(
      expect.arrayContaining([
        ["not-json", null],
        ["invalid", "bad-1"],
        ["bad-version", "bad-2"],
        ["too-large", null]
      ])
    )
    expect(await metricReaches(server, /^prism_control_messages_rejected_total/, rejectedBefore + 4)).toBe(
      rejectedBefore + 4
    )
    // A is still in the room, and C's session is untouched
    c.send({ type: "hello", name: "Cy" })
    await a.waitFor("roster-diff", (d) => d.updated?.some((p) => p.name === "Cy") ?? false)
    const cMid = c.bindings[0]!.mid
    await waitFor(() => c.tagsOn(cMid).length > 10, 5000, "media to C")
    expect(c.ofType("error")).toEqual([])
  })

  it("disconnects a participant that keeps sending bad messages, and only that one", async () => {
    const disconnectsBefore = await metric(server, /^prism_control_disconnects_total/)
    const abuser = await join("ctl-abuse", { subscribe: { audio: 1 } })
    const b = await join("ctl-abuse", { publish: { audio: true }, subscribe: { audio: 1 }, tag: 2 })
    b.startPublishing()
    const plain = await TestClient.join(server.baseUrl, "ctl-abuse", { subscribe: { audio: 1 } })
    clients.push(plain)
    await Promise.all([abuser.ready(), b.ready(), plain.connected()])
    for (let i = 0; i < 25; i++) abuser.sendRaw(`garbage ${i}`)
    await b.waitFor("roster-diff", (d) => d.left.includes(abuser.participantId))
    await waitFor(() => abuser.control.readyState !== "open", 10_000, "the abuser's channel to close")
    expect(await metricReaches(server, /^prism_control_disconnects_total/, disconnectsBefore + 1)).toBe(
      disconnectsBefore + 1
    )
    // the others carry on: control works, and the plain client still gets B's audio
    b.send({ type: "hello", name: "still here", id: "h" })
    await b.waitFor("roster-diff", (d) => d.updated?.some((p) => p.name === "still here") ?? false)
    const mid = plain.slotMids[0]!
    const before = plain.packetsOn(mid).length
    await waitFor(() => plain.packetsOn(mid).length > before + 10, 5000, "audio to the plain client")
  })

  it("gives audio slots to whoever is talking", async () => {
    const listener = await join("ctl-speaker", { subscribe: { audio: 1 } })
    const first = await join("ctl-speaker", { publish: { audio: true }, tag: 2 })
    const second = await join("ctl-speaker", { publish: { audio: true }, tag: 3 })
    first.startPublishing()
    second.startPublishing()
    await listener.ready()
    // both silent: join order puts the first publisher on the slot
    await listener.waitFor("bindings", (m) => m.slots[0]?.participantId === first.participantId)
    second.audioLevel = 20
    await listener.waitFor("bindings", (m) => m.slots[0]?.participantId === second.participantId)
    const speakers = await listener.waitFor("speakers", (m) =>
      m.speakers.some((s) => s.participantId === second.participantId && s.speaking)
    )
    expect(speakers.speakers[0]?.participantId).toBe(second.participantId)
    const mid = listener.bindings[0]!.mid
    await waitFor(
      () =>
        listener
          .tagsOn(mid)
          .slice(-10)
          .every((t) => t === 3),
      5000,
      "the speaker's audio"
    )
  })
})
