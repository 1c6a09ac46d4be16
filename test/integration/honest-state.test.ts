import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { RTCPeerConnection } from "werift"
import { ControlClient } from "../support/control-client.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { TestClient, waitFor } from "../support/werift-client.ts"

/**
 * A participant is `connected` only once ICE and DTLS are up: the room view, the control
 * protocol's roster and the `prism_participants` gauge say so, and only connected participants'
 * publications are put on other people's slots. A client that POSTs an offer and never connects
 * used to keep a publication the next subscriber's slot was bound to: that subscriber saw nothing.
 */

interface RoomView {
  readonly participants: ReadonlyArray<{
    readonly id: string
    readonly state: string
    readonly publications: ReadonlyArray<{ readonly id: string; readonly kind: string }>
    readonly slots: ReadonlyArray<{ readonly trackId: string | null }>
  }>
}

const gauge = async (server: RunningServer, name: string): Promise<number> => {
  const text = await (await fetch(`${server.internalUrl}/metrics`)).text()
  const line = text.split("\n").find((l) => l.startsWith(`${name} `))
  return line ? Number(line.split(" ").at(-1)) : Number.NaN
}

const pollUntil = async <T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  what: string
): Promise<T> => {
  const deadline = Date.now() + 10_000
  for (;;) {
    const value = await read()
    if (accept(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** POSTs a real offer publishing video, then closes the peer connection: it never connects. */
const ghostJoin = async (server: RunningServer, room: string): Promise<string> => {
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", iceStunGatherTimeout: 1 })
  pc.addTransceiver("video", { direction: "sendonly" })
  await pc.setLocalDescription(await pc.createOffer())
  const response = await fetch(`${server.baseUrl}/api/v1/rooms/${room}/participants`, {
    method: "POST",
    headers: { "content-type": "application/sdp" },
    body: pc.localDescription!.sdp
  })
  await pc.close()
  expect(response.status).toBe(201)
  return (response.headers.get("location") ?? "").split("/").at(-1)!
}

describe("honest participant state", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.close()
  })

  it("a participant that never connects is listed as connecting, counted nowhere and bound to no slot", async () => {
    const room = "never-connects"
    const ghost = await ghostJoin(server, room)
    const publisher = await TestClient.join(server.baseUrl, room, { publish: { video: true }, tag: 7 })
    const subscriber = await ControlClient.join(server.baseUrl, room, { subscribe: { video: 1 } })
    try {
      await Promise.all([publisher.connected(), subscriber.ready()])
      publisher.startPublishing()
      const mid = subscriber.bindings[0]?.mid ?? ""
      await waitFor(
        () => subscriber.tagsOn(mid).filter((t) => t === 7).length > 30,
        10_000,
        "the publisher's video"
      )
      expect(subscriber.tagsOn(mid).every((t) => t === 7)).toBe(true)

      const view = await pollUntil(
        async () => (await (await fetch(`${server.baseUrl}/api/v1/rooms/${room}`)).json()) as RoomView,
        (v) => v.participants.filter((p) => p.state === "connected").length === 2,
        "the two clients to show as connected"
      )
      expect(view.participants.find((p) => p.id === ghost)?.state).toBe("connecting")
      const video = view.participants.find((p) => p.id === publisher.location.split("/").at(-1))!
      const slots = view.participants.find((p) => p.id === subscriber.participantId)!.slots
      expect(slots.map((s) => s.trackId)).toEqual([video.publications[0]!.id])

      // The roster the subscriber was sent never listed the ghost.
      expect([...subscriber.participants.keys()].sort()).toEqual(
        [publisher.location.split("/").at(-1)!, subscriber.participantId].sort()
      )
      expect(subscriber.ofType("roster-diff").flatMap((d) => d.joined.map((p) => p.id))).not.toContain(ghost)
      // The gauges count what is connected (they are flushed once a second).
      await pollUntil(
        async () => [await gauge(server, "prism_participants"), await gauge(server, "prism_publications")],
        ([participants, publications]) => participants === 2 && publications === 1,
        "the gauges to count the two connected clients and one publication"
      )
    } finally {
      await Promise.all([publisher.leave(), subscriber.leave()])
      await fetch(`${server.baseUrl}/api/v1/rooms/${room}/participants/${ghost}`, { method: "DELETE" })
    }
  })
})
