import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { RoomView } from "../../src/room/room-view.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { waitFor } from "../support/werift-client.ts"
import {
  findStats,
  joinRoom,
  SyntheticCamera,
  SyntheticMicrophone,
  type WrtcTrack,
  waitForConnected,
  wrtc
} from "../support/wrtc-client.ts"

const fullSize = (frame: { width: number; height: number }) => frame.width === 320 && frame.height === 240

describe("libwebrtc (@roamhq/wrtc) publisher and subscriber through the SFU", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.close()
  })

  it("a subscriber decodes the publisher's VP8 video at the publisher's resolution", {
    timeout: 30_000
  }, async () => {
    const room = "wrtc-e2e"
    const camera = new SyntheticCamera(320, 240, 30)
    const microphone = new SyntheticMicrophone()
    const publisher = new wrtc.RTCPeerConnection({ bundlePolicy: "max-bundle", iceServers: [] })
    const subscriber = new wrtc.RTCPeerConnection({ bundlePolicy: "max-bundle", iceServers: [] })
    const decoded: Array<{ width: number; height: number }> = []
    let sink: { stop(): void } | undefined
    let firstFrameAt = 0
    const startedAt = Date.now()
    try {
      const stream = new wrtc.MediaStream([camera.track, microphone.track])
      publisher.addTransceiver(camera.track, { direction: "sendonly", streams: [stream] })
      publisher.addTransceiver(microphone.track, { direction: "sendonly", streams: [stream] })
      camera.start()
      microphone.start()
      await joinRoom(publisher, server.baseUrl, room)

      let received: WrtcTrack | undefined
      subscriber.ontrack = (event) => {
        if (event.track.kind === "video") received = event.track
      }
      const videoSlot = subscriber.addTransceiver("video", { direction: "recvonly" })
      subscriber.addTransceiver("audio", { direction: "recvonly" })
      await joinRoom(subscriber, server.baseUrl, room)
      received ??= videoSlot.receiver.track
      const videoSink = new wrtc.nonstandard.RTCVideoSink(received)
      sink = videoSink
      videoSink.onframe = ({ frame }) => {
        if (decoded.length === 0) firstFrameAt = Date.now()
        decoded.push({ width: frame.width, height: frame.height })
      }

      await Promise.all([waitForConnected(publisher), waitForConnected(subscriber)])
      // Counted at full size: under CPU load libwebrtc may scale a few frames down.
      await waitFor(
        () => decoded.filter(fullSize).length >= 30,
        15_000,
        "30 frames decoded at 320x240 at the subscriber"
      )
      console.log(
        `libwebrtc: first frame decoded ${firstFrameAt - startedAt} ms after the publisher started, ` +
          `30 at 320x240 after ${Date.now() - startedAt} ms (${decoded.length} decoded in all)`
      )
      expect(decoded[0]).toEqual({ width: 320, height: 240 })

      const inbound = await findStats(subscriber, "inbound-rtp", "video")
      expect(Number(inbound?.["framesDecoded"] ?? 0)).toBeGreaterThanOrEqual(30)
      expect(inbound?.["frameWidth"]).toBe(320)

      const view = (await (await fetch(`${server.baseUrl}/api/v1/rooms/${room}`)).json()) as RoomView
      expect(view.participants).toHaveLength(2)
      const pub = view.participants.find((p) => p.publications.length > 0)
      const sub = view.participants.find((p) => p.slots.length > 0)
      expect(pub!.publications.map((p) => p.kind).sort()).toEqual(["audio", "video"])
      expect(pub!.publications.every((p) => p.packetsReceived > 0)).toBe(true)
      const videoSlotView = sub!.slots.find((s) => s.kind === "video")!
      expect(videoSlotView.trackId).not.toBeNull()
      expect(videoSlotView.packetsSent).toBeGreaterThan(0)
      // Audio reaches the subscriber too.
      let audioPackets = 0
      const deadline = Date.now() + 5_000
      while (audioPackets === 0 && Date.now() < deadline) {
        audioPackets = Number((await findStats(subscriber, "inbound-rtp", "audio"))?.["packetsReceived"] ?? 0)
        if (audioPackets === 0) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(audioPackets).toBeGreaterThan(0)
    } finally {
      sink?.stop()
      camera.stop()
      microphone.stop()
      publisher.close()
      subscriber.close()
    }
  })
})
