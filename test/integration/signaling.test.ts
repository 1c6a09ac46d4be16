import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { RTCPeerConnection } from "werift"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { TestClient, waitFor } from "../support/werift-client.ts"

/** A real offer (audio + video, sendrecv) from a werift peer, closed right away. */
const makeOffer = async (setup?: (pc: RTCPeerConnection) => void): Promise<string> => {
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", iceStunGatherTimeout: 1 })
  if (setup) setup(pc)
  else {
    pc.addTransceiver("audio", { direction: "sendrecv" })
    pc.addTransceiver("video", { direction: "sendrecv" })
  }
  await pc.setLocalDescription(await pc.createOffer())
  const sdp = pc.localDescription!.sdp
  await pc.close()
  return sdp
}

const post = (
  url: string,
  body: string,
  contentType = "application/sdp",
  headers: Record<string, string> = {}
) => fetch(url, { method: "POST", headers: { "content-type": contentType, ...headers }, body })

const errorCode = async (response: Response) =>
  ((await response.json()) as { error: { code: string } }).error.code

describe("signaling API", () => {
  let server: RunningServer
  let offer: string
  beforeAll(async () => {
    server = await startServer({ maxParticipantsPerRoom: 2, maxTracksPerParticipant: 2 })
    offer = await makeOffer()
  })
  afterAll(async () => {
    await server.close()
  })

  it("answers a join with 201, an SDP answer, Location and ETag, readable cross-origin", async () => {
    const response = await post(
      `${server.baseUrl}/api/v1/rooms/api-join/participants`,
      offer,
      "application/sdp",
      {
        origin: "http://elsewhere.example"
      }
    )
    expect(response.status).toBe(201)
    expect(response.headers.get("content-type")).toContain("application/sdp")
    expect(response.headers.get("location")).toMatch(
      /^\/api\/v1\/rooms\/api-join\/participants\/pa_[a-z0-9]+$/
    )
    expect(response.headers.get("etag")).toBeTruthy()
    expect(response.headers.get("access-control-allow-origin")).toBe("*")
    expect(response.headers.get("access-control-expose-headers")).toMatch(/Location/)
    const answer = await response.text()
    expect(answer).toMatch(/^v=0/)
    expect(answer).toContain("a=ice-lite")
    expect(answer).toContain("a=candidate:")
    const del = await fetch(`${server.baseUrl}${response.headers.get("location")}`, { method: "DELETE" })
    expect(del.status).toBe(204)
    const again = await fetch(`${server.baseUrl}${response.headers.get("location")}`, { method: "DELETE" })
    expect(again.status).toBe(404)
  })

  it("answers a CORS preflight", async () => {
    const response = await fetch(`${server.baseUrl}/api/v1/rooms/x/participants`, {
      method: "OPTIONS",
      headers: {
        origin: "http://elsewhere.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type"
      }
    })
    expect(response.status).toBeLessThan(300)
    expect(response.headers.get("access-control-allow-origin")).toBe("*")
  })

  it("restarts ICE with PATCH and If-Match, rotating the ETag; a stale ETag gets 412", async () => {
    const client = await TestClient.join(server.baseUrl, "api-patch", { publish: { video: true } })
    try {
      await client.connected()
      client.pc.restartIce()
      await client.pc.setLocalDescription(await client.pc.createOffer())
      const restartOffer = client.pc.localDescription!.sdp
      const url = `${server.baseUrl}${client.location}`
      const missing = await fetch(url, {
        method: "PATCH",
        headers: { "content-type": "application/sdp" },
        body: restartOffer
      })
      expect(missing.status).toBe(428)
      const stale = await fetch(url, {
        method: "PATCH",
        headers: { "content-type": "application/sdp", "if-match": '"not-the-etag"' },
        body: restartOffer
      })
      expect(stale.status).toBe(412)
      expect(await errorCode(stale)).toBe("etag_mismatch")
      const ok = await fetch(url, {
        method: "PATCH",
        headers: { "content-type": "application/sdp", "if-match": client.etag },
        body: restartOffer
      })
      expect(ok.status).toBe(200)
      const newEtag = ok.headers.get("etag")
      expect(newEtag).toBeTruthy()
      expect(newEtag).not.toBe(client.etag)
      expect(await ok.text()).toMatch(/^v=0/)
      const reused = await fetch(url, {
        method: "PATCH",
        headers: { "content-type": "application/sdp", "if-match": client.etag },
        body: restartOffer
      })
      expect(reused.status).toBe(412)
    } finally {
      await client.close()
    }
  })

  it("publishes with WHIP and plays with WHEP", async () => {
    const whip = await TestClient.join(server.baseUrl, "api-whip", {
      publish: { video: true },
      tag: 5,
      path: "whip"
    })
    const whep = await TestClient.join(server.baseUrl, "api-whip", { subscribe: { video: 1 }, path: "whep" })
    try {
      expect(whip.location).toMatch(/^\/whip\/api-whip\/pa_/)
      expect(whep.location).toMatch(/^\/whep\/api-whip\/pa_/)
      await Promise.all([whip.connected(), whep.connected()])
      whip.startPublishing()
      const mid = whep.slotMids[0]!
      await waitFor(() => whep.packetsOn(mid).length > 30, 10_000, "WHEP video")
      expect(whep.packetsOn(mid).every((p) => p.tag === 5)).toBe(true)
      const options = await fetch(`${server.baseUrl}/whip/api-whip`, { method: "OPTIONS" })
      expect(options.status).toBe(204)
      const trickle = await fetch(`${server.baseUrl}${whip.location}`, {
        method: "PATCH",
        headers: { "content-type": "application/trickle-ice-sdpfrag", "if-match": "*" },
        body: "a=ice-ufrag:abcd\r\n"
      })
      expect(trickle.status).toBe(405)
      expect(await whip.leave()).toBe(204)
      expect(await whep.leave()).toBe(204)
    } finally {
      await Promise.all([whip.close(), whep.close()])
    }
  })

  it("shows rooms, participants, publications and slot bindings", async () => {
    const pub = await TestClient.join(server.baseUrl, "api-view", { publish: { audio: true, video: true } })
    const sub = await TestClient.join(server.baseUrl, "api-view", { subscribe: { video: 1 } })
    try {
      type View = {
        name: string
        participants: Array<{
          id: string
          state: string
          publications: Array<{ id: string; kind: string; codec: string }>
          slots: Array<{ kind: string; trackId: string | null; ssrc: number }>
        }>
      }
      const read = async () => (await (await fetch(`${server.baseUrl}/api/v1/rooms/api-view`)).json()) as View
      // A publication is bound once its publisher's ICE and DTLS are up.
      await Promise.all([pub.connected(), sub.connected()])
      let view = await read()
      const deadline = Date.now() + 10_000
      while (!view.participants.every((p) => p.state === "connected" && p.slots.every((s) => s.trackId))) {
        if (Date.now() > deadline) throw new Error(`not connected and bound: ${JSON.stringify(view)}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
        view = await read()
      }
      expect(view.name).toBe("api-view")
      expect(view.participants).toHaveLength(2)
      const publisher = view.participants.find((p) => p.publications.length > 0)!
      const subscriber = view.participants.find((p) => p.slots.length > 0)!
      expect(publisher.publications.map((p) => p.kind).sort()).toEqual(["audio", "video"])
      const video = publisher.publications.find((p) => p.kind === "video")!
      expect(video.codec).toBe("VP8")
      expect(subscriber.slots[0]!.trackId).toBe(video.id)
      const list = (await (await fetch(`${server.baseUrl}/api/v1/rooms`)).json()) as {
        rooms: Array<{ name: string }>
      }
      expect(list.rooms.map((r) => r.name)).toContain("api-view")
      expect((await fetch(`${server.baseUrl}/api/v1/rooms/no-such-room`)).status).toBe(404)
    } finally {
      await Promise.all([pub.leave(), sub.leave()])
    }
  })

  describe("bad input gets a clear 4xx and leaves everyone else untouched", () => {
    const cases: ReadonlyArray<{
      readonly name: string
      readonly path: string
      readonly body: () => string
      readonly contentType?: string
      readonly status: number
      readonly code: string
    }> = [
      {
        name: "room name with a slash-free bad character",
        path: "/api/v1/rooms/bad$name/participants",
        body: () => offer,
        status: 400,
        code: "invalid_room_name"
      },
      {
        name: "room name longer than 64",
        path: `/api/v1/rooms/${"a".repeat(65)}/participants`,
        body: () => offer,
        status: 400,
        code: "invalid_room_name"
      },
      {
        name: "JSON content type",
        path: "/api/v1/rooms/bad/participants",
        body: () => offer,
        contentType: "application/json",
        status: 415,
        code: "unsupported_media_type"
      },
      {
        name: "missing content type",
        path: "/api/v1/rooms/bad/participants",
        body: () => offer,
        contentType: "",
        status: 415,
        code: "unsupported_media_type"
      },
      {
        name: "body over 64 KiB",
        path: "/api/v1/rooms/bad/participants",
        body: () => `${offer}${"a=x\r\n".repeat(14000)}`,
        status: 413,
        code: "body_too_large"
      },
      {
        name: "empty body",
        path: "/api/v1/rooms/bad/participants",
        body: () => "",
        status: 400,
        code: "invalid_offer"
      },
      {
        name: "not SDP",
        path: "/api/v1/rooms/bad/participants",
        body: () => "hello world",
        status: 400,
        code: "invalid_offer"
      },
      {
        name: "SDP with garbage lines",
        path: "/api/v1/rooms/bad/participants",
        body: () => "v=0\r\nthis is not sdp\r\n",
        status: 400,
        code: "invalid_offer"
      },
      {
        name: "SDP without media",
        path: "/api/v1/rooms/bad/participants",
        body: () => offer.split("m=")[0]!,
        status: 400,
        code: "invalid_offer"
      },
      {
        name: "truncated SDP",
        path: "/api/v1/rooms/bad/participants",
        body: () => offer.slice(0, Math.floor(offer.length / 2)),
        status: 400,
        code: "invalid_offer"
      },
      {
        name: "only unsupported codecs",
        path: "/api/v1/rooms/bad/participants",
        body: () => offer.replace(/VP8|opus/gi, "NOPE"),
        status: 400,
        code: "invalid_offer"
      },
      {
        name: "WHIP offer that only receives",
        path: "/whip/bad",
        body: () => offer.replaceAll("a=sendrecv", "a=recvonly"),
        status: 400,
        code: "invalid_offer"
      },
      {
        name: "inactive m-lines only",
        path: "/api/v1/rooms/bad/participants",
        body: () => offer.replaceAll("a=sendrecv", "a=inactive"),
        status: 400,
        code: "invalid_offer"
      }
    ]
    for (const c of cases) {
      it(c.name, async () => {
        const response = await fetch(`${server.baseUrl}${c.path}`, {
          method: "POST",
          headers: c.contentType === "" ? {} : { "content-type": c.contentType ?? "application/sdp" },
          body: c.body()
        })
        expect(response.status).toBe(c.status)
        expect(response.headers.get("content-type")).toContain("application/json")
        expect(await errorCode(response)).toBe(c.code)
      })
    }

    it("too many tracks for one participant", async () => {
      const many = await makeOffer((pc) => {
        for (let i = 0; i < 3; i++) pc.addTransceiver("video", { direction: "sendonly" })
      })
      const response = await post(`${server.baseUrl}/api/v1/rooms/bad-tracks/participants`, many)
      expect(response.status).toBe(400)
      expect(await errorCode(response)).toBe("too_many_tracks")
    })

    it("a full room", async () => {
      const url = `${server.baseUrl}/api/v1/rooms/bad-full/participants`
      const first = await post(url, offer)
      const second = await post(url, offer)
      const third = await post(url, offer)
      expect([first.status, second.status]).toEqual([201, 201])
      expect(third.status).toBe(429)
      expect(await errorCode(third)).toBe("room_full")
      for (const r of [first, second])
        await fetch(`${server.baseUrl}${r.headers.get("location")}`, { method: "DELETE" })
    })

    it("unknown participants and rooms", async () => {
      const del = await fetch(`${server.baseUrl}/api/v1/rooms/nobody/participants/pa_missing`, {
        method: "DELETE"
      })
      expect(del.status).toBe(404)
      expect(await errorCode(del)).toBe("participant_not_found")
      const patch = await fetch(`${server.baseUrl}/api/v1/rooms/nobody/participants/pa_missing`, {
        method: "PATCH",
        headers: { "content-type": "application/sdp", "if-match": "*" },
        body: offer
      })
      expect(patch.status).toBe(404)
    })

    it("a storm of bad requests does not disturb a live session", async () => {
      const pub = await TestClient.join(server.baseUrl, "bad-live", { publish: { video: true }, tag: 9 })
      const sub = await TestClient.join(server.baseUrl, "bad-live", { subscribe: { video: 1 } })
      try {
        await Promise.all([pub.connected(), sub.connected()])
        pub.startPublishing()
        const mid = sub.slotMids[0]!
        await waitFor(() => sub.packetsOn(mid).length > 10, 10_000, "media before the storm")
        const statuses = await Promise.all(
          cases.flatMap((c) =>
            [0, 1, 2].map(() =>
              fetch(`${server.baseUrl}${c.path.replace("/bad", "/bad-live")}`, {
                method: "POST",
                headers: { "content-type": c.contentType || "application/sdp" },
                body: c.body()
              }).then((r) => r.status)
            )
          )
        )
        expect(statuses.every((s) => s >= 400 && s < 500)).toBe(true)
        const before = sub.packetsOn(mid).length
        await waitFor(() => sub.packetsOn(mid).length > before + 30, 10_000, "media after the storm")
        expect(sub.packetsOn(mid).every((p) => p.tag === 9)).toBe(true)
      } finally {
        await Promise.all([pub.close(), sub.close()])
      }
    })
  })
})
