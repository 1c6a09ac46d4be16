import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { seqDiff } from "../../src/media/sequence-number.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { type ReceivedPacket, TestClient, waitFor } from "../support/werift-client.ts"

/** Continuity of what one slot delivered: one SSRC, and how many sequence gaps. */
const continuity = (packets: ReadonlyArray<ReceivedPacket>) => {
  const ssrcs = new Set(packets.map((p) => p.ssrc))
  let gaps = 0
  let backwards = 0
  for (let i = 1; i < packets.length; i++) {
    const d = seqDiff(packets[i]!.sequenceNumber, packets[i - 1]!.sequenceNumber)
    if (d > 1) gaps += d - 1
    if (d <= 0) backwards++
  }
  return { ssrcs, gaps, backwards }
}

describe("media forwarding through real werift peers on loopback", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server.close()
  })

  it("forwards a publisher's audio and video to two subscribers on fixed SSRCs with continuous sequence numbers", async () => {
    const alice = await TestClient.join(server.baseUrl, "fwd", {
      publish: { audio: true, video: true },
      tag: 1
    })
    const bob = await TestClient.join(server.baseUrl, "fwd", { subscribe: { audio: 1, video: 1 } })
    const carol = await TestClient.join(server.baseUrl, "fwd", { subscribe: { audio: 1, video: 1 } })
    try {
      await Promise.all([alice.connected(), bob.connected(), carol.connected()])
      alice.startPublishing()
      for (const sub of [bob, carol]) {
        const [audioMid, videoMid] = sub.slotMids
        await waitFor(
          () => sub.packetsOn(videoMid!).length > 150 && sub.packetsOn(audioMid!).length > 80,
          10_000,
          "media at a subscriber"
        )
      }
      alice.stopPublishing()
      for (const sub of [bob, carol]) {
        const [audioMid, videoMid] = sub.slotMids
        const video = sub.packetsOn(videoMid!)
        const audio = sub.packetsOn(audioMid!)
        expect(video[0]!.keyframe).toBe(true)
        expect(video.every((p) => p.tag === 1)).toBe(true)
        expect(audio.every((p) => p.tag === 1)).toBe(true)
        for (const packets of [video, audio]) {
          const c = continuity(packets)
          expect(c.ssrcs.size).toBe(1)
          expect(c.gaps).toBe(0)
          expect(c.backwards).toBe(0)
        }
      }
      expect(alice.received.size).toBe(0)
    } finally {
      await Promise.all([alice.close(), bob.close(), carol.close()])
    }
  })

  it("rebinds a slot to another publisher when its publisher leaves, keeping SSRC and sequence continuity", async () => {
    const first = await TestClient.join(server.baseUrl, "rebind", { publish: { video: true }, tag: 7 })
    const second = await TestClient.join(server.baseUrl, "rebind", { publish: { video: true }, tag: 8 })
    const viewer = await TestClient.join(server.baseUrl, "rebind", { subscribe: { video: 1 } })
    try {
      await Promise.all([first.connected(), second.connected(), viewer.connected()])
      first.startPublishing()
      second.startPublishing()
      const mid = viewer.slotMids[0]!
      await waitFor(() => viewer.packetsOn(mid).length > 60, 10_000, "first publisher's video")
      expect(new Set(viewer.packetsOn(mid).map((p) => p.tag))).toEqual(new Set([7]))
      expect(await first.leave()).toBe(204)
      await waitFor(
        () => viewer.packetsOn(mid).filter((p) => p.tag === 8).length > 60,
        10_000,
        "rebound video"
      )
      const packets = viewer.packetsOn(mid)
      const firstOfSecond = packets.findIndex((p) => p.tag === 8)
      expect(packets[firstOfSecond]!.keyframe).toBe(true)
      const c = continuity(packets)
      expect(c.ssrcs.size).toBe(1)
      expect(c.backwards).toBe(0)
      expect(c.gaps).toBe(0)
      const before = packets[firstOfSecond - 1]!
      const after = packets[firstOfSecond]!
      expect(after.timestamp - before.timestamp).toBeGreaterThan(0)
    } finally {
      await Promise.all([first.close(), second.close(), viewer.close()])
    }
  })

  it("never sends a participant its own media", async () => {
    const solo = await TestClient.join(server.baseUrl, "solo", {
      publish: { audio: true, video: true },
      subscribe: { audio: 1, video: 1 },
      tag: 3
    })
    try {
      await solo.connected()
      solo.startPublishing()
      await new Promise((resolve) => setTimeout(resolve, 1500))
      expect([...solo.received.values()].flat().length).toBe(0)
      const view = (await (await fetch(`${server.baseUrl}/api/v1/rooms/solo`)).json()) as {
        participants: Array<{
          publications: Array<{ packetsReceived: number }>
          slots: Array<{ trackId: string | null }>
        }>
      }
      expect(view.participants[0]!.publications.every((p) => p.packetsReceived > 0)).toBe(true)
      expect(view.participants[0]!.slots.every((s) => s.trackId === null)).toBe(true)
    } finally {
      await solo.close()
    }
  })
})
