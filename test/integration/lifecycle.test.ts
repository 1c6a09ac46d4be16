import { queryObjects, setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { Duration } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { RTCPeerConnection } from "werift"
import { Participant } from "../../src/participant/participant.ts"
import { SubscriptionSlot } from "../../src/participant/subscription-slot.ts"
import { Track } from "../../src/track/track.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { TestClient, waitFor } from "../support/werift-client.ts"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

const activeResources = (kind: string) => process.getActiveResourcesInfo().filter((r) => r === kind).length

/** Live objects of the classes one join creates (server and client peer connections share werift's class), after a GC. */
const liveObjects = () => {
  gc()
  return [RTCPeerConnection, Participant, Track, SubscriptionSlot].map((ctor) =>
    queryObjects(ctor, { format: "count" })
  )
}

const metric = async (server: RunningServer, name: string): Promise<number> => {
  const text = await (await fetch(`${server.internalUrl}/metrics`)).text()
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line ? Number(line.split(" ").at(-1)) : Number.NaN
}

const roomNames = async (server: RunningServer) =>
  (
    (await (await fetch(`${server.baseUrl}/api/v1/rooms`)).json()) as { rooms: Array<{ name: string }> }
  ).rooms.map((r) => r.name)

describe("participant and room lifecycle", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer({
      participantTimeout: Duration.seconds(2),
      emptyRoomGrace: Duration.millis(500)
    })
  })
  afterAll(async () => {
    await server.close()
  })

  it("removes a participant that stays silent past the timeout, then the empty room", async () => {
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", iceStunGatherTimeout: 1 })
    pc.addTransceiver("video", { direction: "sendonly" })
    await pc.setLocalDescription(await pc.createOffer())
    const response = await fetch(`${server.baseUrl}/api/v1/rooms/silent/participants`, {
      method: "POST",
      headers: { "content-type": "application/sdp" },
      body: pc.localDescription!.sdp
    })
    await pc.close() // never connects: the server hears nothing from it
    expect(response.status).toBe(201)
    expect(await roomNames(server)).toContain("silent")
    const started = Date.now()
    const gone = async () => !(await roomNames(server)).includes("silent")
    while (!(await gone())) {
      if (Date.now() - started > 8000) throw new Error("participant and room were not removed")
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(Date.now() - started).toBeGreaterThan(1000)
    const del = await fetch(`${server.baseUrl}${response.headers.get("location")}`, { method: "DELETE" })
    expect(del.status).toBe(404)
  })

  it("keeps a connected participant whose client keeps talking", async () => {
    const client = await TestClient.join(server.baseUrl, "chatty", { publish: { video: true } })
    try {
      await client.connected()
      client.startPublishing()
      await new Promise((r) => setTimeout(r, 3500))
      const view = (await (await fetch(`${server.baseUrl}/api/v1/rooms/chatty`)).json()) as {
        participants: unknown[]
      }
      expect(view.participants).toHaveLength(1)
    } finally {
      await client.leave()
    }
  })

  it("releases sockets, rooms and memory over repeated join/leave cycles", async () => {
    const cycle = async (i: number) => {
      const pub = await TestClient.join(server.baseUrl, `cycle-${i % 3}`, {
        publish: { audio: true, video: true }
      })
      const sub = await TestClient.join(server.baseUrl, `cycle-${i % 3}`, {
        subscribe: { audio: 1, video: 1 }
      })
      await Promise.all([pub.connected(), sub.connected()])
      pub.startPublishing()
      await waitFor(() => [...sub.received.values()].flat().length > 5, 10_000, "media in a cycle")
      await Promise.all([pub.leave(), sub.leave()])
    }
    const settle = async () => {
      const deadline = Date.now() + 5000
      while ((await roomNames(server)).length > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100))
      await new Promise((r) => setTimeout(r, 1500))
      gc()
      gc()
    }
    for (let i = 0; i < 3; i++) await cycle(i) // warm up caches and lazy allocations
    await settle()
    const objectsBefore = liveObjects()
    const socketsBefore = activeResources("UDPWrap")
    const timersBefore = activeResources("Timeout")
    const heapBefore = process.memoryUsage().heapUsed
    for (let i = 0; i < 15; i++) await cycle(i)
    await settle()
    expect(await roomNames(server)).toEqual([])
    expect(activeResources("UDPWrap")).toBe(socketsBefore)
    // Nothing a participant was made of outlives it (a closed peer connection may wait on a timer a while).
    await waitFor(
      () => liveObjects().every((n, i) => n <= objectsBefore[i]!),
      30_000,
      "peer connections, participants, tracks and slots to be collected"
    )
    // Every fiber that sleeps (watchdogs, report and NACK loops) holds a timer: none may outlive its participant.
    expect(activeResources("Timeout")).toBeLessThanOrEqual(timersBefore)
    const growth = process.memoryUsage().heapUsed - heapBefore
    // 15 cycles open 30 client and 30 server peer connections (~100+ KB each when alive).
    expect(growth).toBeLessThan(3 * 1024 * 1024)
    await new Promise((r) => setTimeout(r, 1100))
    expect(await metric(server, "prism_participants")).toBe(0)
    expect(await metric(server, "prism_rooms")).toBe(0)
    expect(await metric(server, "prism_publications")).toBe(0)
  }, 120_000)

  it("exposes Prometheus metrics and a health check on the internal port", async () => {
    const pub = await TestClient.join(server.baseUrl, "metrics", { publish: { video: true } })
    await pub.connected()
    pub.startPublishing()
    await new Promise((r) => setTimeout(r, 500))
    // Binding a slot to a track that is already flowing makes the server ask its publisher for a keyframe.
    const sub = await TestClient.join(server.baseUrl, "metrics", { subscribe: { video: 1 } })
    try {
      await sub.connected()
      await waitFor(() => sub.packetsOn(sub.slotMids[0]!).length > 30, 10_000, "media")
      await new Promise((r) => setTimeout(r, 1200))
      expect((await fetch(`${server.internalUrl}/healthz`)).status).toBe(200)
      expect(await metric(server, "prism_packets_forwarded_total")).toBeGreaterThan(30)
      expect(await metric(server, "prism_packets_received_total")).toBeGreaterThan(30)
      expect(await metric(server, "prism_participants")).toBe(2)
      expect(await metric(server, "prism_join_duration_seconds_count")).toBeGreaterThan(0)
      expect(await metric(server, "process_resident_memory_bytes")).toBeGreaterThan(0)
      const text = await (await fetch(`${server.internalUrl}/metrics`)).text()
      expect(text).toMatch(/prism_keyframe_requests_total\{direction="to_publisher"\} [1-9]/)
      expect(text).toContain("prism_forward_latency_seconds_bucket")
      expect(pub.keyframeRequests).toBeGreaterThan(0)
      expect((await fetch(`${server.baseUrl}/metrics`)).status).toBe(404)
    } finally {
      await Promise.all([pub.leave(), sub.leave()])
    }
  })
})
