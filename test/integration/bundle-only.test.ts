import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  useAbsSendTime,
  useNACK,
  usePLI,
  useSdesMid,
  useTransportWideCC
} from "werift"
import type { RoomView } from "../../src/room/room-view.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { TestClient, waitFor } from "../support/werift-client.ts"
import {
  findStats,
  SyntheticCamera,
  SyntheticMicrophone,
  waitForConnected,
  wrtc
} from "../support/wrtc-client.ts"

/**
 * Offers whose later m-sections are bundle-only (RFC 8843 §7.2: port 0 and a=bundle-only,
 * to be accepted only inside the BUNDLE group), as GStreamer's webrtcbin sends them under
 * max-bundle: the audio must be published next to the video, and the answer must be one the
 * offerer's stack takes.
 */

/**
 * webrtcbin still writes the ICE and DTLS attributes into its bundle-only sections; RFC 8843
 * §7.1.3 says to leave them out, and the "rfc8843" shape does.
 */
type Shape = "webrtcbin" | "rfc8843"

/** Attributes RFC 8843 §7.1.3 keeps out of bundle-only sections (transport and identical categories). */
const BUNDLE_ATTRIBUTES = /^a=(ice-ufrag|ice-pwd|ice-options|fingerprint|setup|rtcp|rtcp-mux|rtcp-rsize)(:|$)/

/** Splits an SDP into its session part and its m-sections, each a list of lines. */
const sectionsOf = (sdp: string): string[][] => {
  const sections: string[][] = [[]]
  for (const line of sdp.split("\r\n").filter((l) => l.length > 0)) {
    if (line.startsWith("m=")) sections.push([])
    sections.at(-1)!.push(line)
  }
  return sections
}

/** An m-section made bundle-only: port 0, a=bundle-only after its c= line, no candidates. */
const asBundleOnly = (lines: ReadonlyArray<string>, keep: (line: string) => boolean = () => true) => {
  const [mLine = "", connection = "", ...attributes] = lines
  if (!connection.startsWith("c=")) throw new Error(`expected a c= line after ${mLine}`)
  const kept = attributes.filter(
    (line) => !line.startsWith("a=candidate:") && line !== "a=end-of-candidates" && keep(line)
  )
  return [mLine.replace(/^(m=\S+) \d+ /, "$1 0 "), connection, "a=bundle-only", ...kept]
}

const joinSdp = (sections: ReadonlyArray<ReadonlyArray<string>>) => `${sections.flat().join("\r\n")}\r\n`

/** Every m-section after the first made bundle-only, and Opus spelled the way webrtcbin spells it. */
const webrtcbinShaped = (sdp: string, shape: Shape): string => {
  const [session = [], first = [], ...later] = sectionsOf(sdp)
  const keep = (line: string) => shape === "webrtcbin" || !BUNDLE_ATTRIBUTES.test(line)
  const bundleOnly = later.map((lines) => asBundleOnly(lines, keep))
  return joinSdp([session, first, ...bundleOnly]).replace(/ opus\/48000/g, " OPUS/48000")
}

const sectionWithMid = (sdp: string, mid: string): string[] =>
  sectionsOf(sdp).find((lines) => lines.includes(`a=mid:${mid}`)) ?? []

/** A werift publisher (VP8 `video0`, Opus `audio1`) that sends its offer webrtcbin-shaped. */
class WebrtcbinShapedPublisher {
  location = ""
  etag = ""
  offer = ""
  answer = ""
  private forceKeyframe = true
  private timers: NodeJS.Timeout[] = []

  private constructor(
    readonly pc: RTCPeerConnection,
    private readonly video: MediaStreamTrack,
    private readonly audio: MediaStreamTrack
  ) {}

  static async join(baseUrl: string, room: string, shape: Shape): Promise<WebrtcbinShapedPublisher> {
    const pc = new RTCPeerConnection({
      bundlePolicy: "max-bundle",
      codecs: {
        audio: [
          new RTCRtpCodecParameters({
            mimeType: "audio/opus",
            clockRate: 48000,
            channels: 2,
            payloadType: 111
          })
        ],
        video: [
          new RTCRtpCodecParameters({
            mimeType: "video/VP8",
            clockRate: 90000,
            payloadType: 96,
            rtcpFeedback: [useNACK(), usePLI()]
          }),
          new RTCRtpCodecParameters({
            mimeType: "video/rtx",
            clockRate: 90000,
            payloadType: 97,
            parameters: "apt=96"
          })
        ]
      },
      headerExtensions: {
        audio: [useSdesMid(), useAbsSendTime(), useTransportWideCC()],
        video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()]
      },
      iceUseIpv6: false,
      iceStunGatherTimeout: 1
    })
    const publisher = new WebrtcbinShapedPublisher(
      pc,
      new MediaStreamTrack({ kind: "video" }),
      new MediaStreamTrack({ kind: "audio" })
    )
    const video = pc.addTransceiver(publisher.video, { direction: "sendonly" })
    const audio = pc.addTransceiver(publisher.audio, { direction: "sendonly" })
    video.mid = "video0"
    audio.mid = "audio1"
    video.sender.onPictureLossIndication.subscribe(() => {
      publisher.forceKeyframe = true
    })
    await pc.setLocalDescription(await pc.createOffer())
    publisher.offer = webrtcbinShaped(pc.localDescription!.sdp, shape)
    const response = await fetch(`${baseUrl}/whip/${room}`, {
      method: "POST",
      headers: { "content-type": "application/sdp" },
      body: publisher.offer
    })
    if (response.status !== 201) {
      await pc.close()
      throw new Error(`join failed: ${response.status} ${await response.text()}`)
    }
    publisher.location = response.headers.get("location") ?? ""
    publisher.etag = response.headers.get("etag") ?? ""
    publisher.answer = await response.text()
    await pc.setRemoteDescription({ type: "answer", sdp: publisher.answer })
    return publisher
  }

  get participantId(): string {
    return this.location.split("/").at(-1) ?? ""
  }

  /** Sends the same offer again (PATCH), which the server negotiates anew. */
  async reoffer(baseUrl: string): Promise<{ status: number; answer: string }> {
    const response = await fetch(`${baseUrl}${this.location}`, {
      method: "PATCH",
      headers: { "content-type": "application/sdp", "if-match": this.etag },
      body: this.offer
    })
    this.etag = response.headers.get("etag") ?? this.etag
    return { status: response.status, answer: await response.text() }
  }

  /** 30 fps VP8 (a keyframe every 30 frames or on request) and 50 pps Opus, tagged `tag`. */
  start(tag: number): void {
    let videoSeq = 0
    let frame = 0
    this.timers.push(
      setInterval(() => {
        frame++
        const keyframe = this.forceKeyframe || frame % 30 === 0
        this.forceKeyframe = false
        for (let part = 0; part < 2; part++) {
          const payload = Buffer.alloc(500)
          payload[0] = part === 0 ? 0x10 : 0x00 // VP8 descriptor: start of the frame
          payload[1] = keyframe ? 0x00 : 0x01 // VP8 header: P bit clear on keyframes
          payload[2] = tag
          payload.writeUInt32BE(frame, 3)
          const header = new RtpHeader({
            payloadType: 96,
            sequenceNumber: videoSeq++ & 0xffff,
            timestamp: frame * 3000,
            marker: part === 1
          })
          this.video.writeRtp(new RtpPacket(header, payload))
        }
      }, 33)
    )
    let audioSeq = 0
    this.timers.push(
      setInterval(() => {
        audioSeq++
        const payload = Buffer.alloc(80)
        payload[0] = 0xfc
        payload[2] = tag
        payload.writeUInt32BE(audioSeq, 3)
        const header = new RtpHeader({
          payloadType: 111,
          sequenceNumber: audioSeq & 0xffff,
          timestamp: audioSeq * 960
        })
        this.audio.writeRtp(new RtpPacket(header, payload))
      }, 20)
    )
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    await this.pc.close()
  }
}

/** Polls `GET /api/v1/rooms/{room}` until the view satisfies `condition`. */
const viewUntil = async (
  baseUrl: string,
  room: string,
  condition: (view: RoomView) => boolean,
  timeoutMs = 10_000
): Promise<RoomView> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const view = (await (await fetch(`${baseUrl}/api/v1/rooms/${room}`)).json()) as RoomView
    if (condition(view)) return view
    if (Date.now() > deadline) throw new Error(`timed out; last view: ${JSON.stringify(view)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const TAG = 0x5b

describe("bundle-only offers (RFC 8843) over WHIP", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server.close()
  })

  it.each<Shape>(["webrtcbin", "rfc8843"])(
    "publishes the bundle-only audio next to the video (%s shape), also after a re-offer",
    async (shape) => {
      const room = `bundle-only-${shape}`
      const publisher = await WebrtcbinShapedPublisher.join(server.baseUrl, room, shape)
      const viewer = await TestClient.join(server.baseUrl, room, {
        path: "whep",
        subscribe: { audio: 1, video: 1 }
      })
      try {
        // The offer is what the test means it to be: audio bundle-only, port 0, no candidates.
        const offeredAudio = sectionWithMid(publisher.offer, "audio1")
        expect(offeredAudio[0]).toMatch(/^m=audio 0 /)
        expect(offeredAudio).toContain("a=bundle-only")
        expect(offeredAudio.some((line) => line.startsWith("a=candidate:"))).toBe(false)
        expect(publisher.offer).toContain("a=group:BUNDLE video0 audio1")

        // The answer accepts both sections into the bundle, each with a port (RFC 9143 §7.3).
        const answeredAudio = sectionWithMid(publisher.answer, "audio1")
        expect(answeredAudio[0]).toMatch(/^m=audio [1-9]\d* /)
        expect(answeredAudio).toContain("a=recvonly")
        expect(answeredAudio).not.toContain("a=bundle-only")
        expect(sectionWithMid(publisher.answer, "video0")[0]).toMatch(/^m=video [1-9]\d* /)
        expect(publisher.answer).toContain("a=group:BUNDLE video0 audio1")

        await waitFor(() => publisher.pc.connectionState === "connected", 10_000, "the publisher to connect")
        await viewer.connected()
        publisher.start(TAG)

        // The room lists two publications, and both carry packets.
        const view = await viewUntil(server.baseUrl, room, (v) => {
          const publications = v.participants.find((p) => p.id === publisher.participantId)?.publications
          return publications?.length === 2 && publications.every((p) => p.packetsReceived > 0)
        })
        const publications = view.participants.find((p) => p.id === publisher.participantId)!.publications
        expect(publications.map((p) => [p.mid, p.kind]).sort()).toEqual([
          ["audio1", "audio"],
          ["video0", "video"]
        ])

        // A subscriber gets both, from this publisher.
        const [audioMid, videoMid] = viewer.slotMids as [string, string]
        await waitFor(
          () => viewer.packetsOn(audioMid).length >= 50 && viewer.packetsOn(videoMid).length >= 30,
          15_000,
          "the viewer's audio and video"
        )
        expect(viewer.packetsOn(audioMid).every((p) => p.tag === TAG)).toBe(true)
        expect(viewer.packetsOn(videoMid).every((p) => p.tag === TAG)).toBe(true)

        // The same offer again: the audio stays accepted and keeps flowing.
        const reoffer = await publisher.reoffer(server.baseUrl)
        expect(reoffer.status).toBe(200)
        expect(sectionWithMid(reoffer.answer, "audio1")[0]).toMatch(/^m=audio [1-9]\d* /)
        const audioBefore = viewer.packetsOn(audioMid).length
        await waitFor(
          () => viewer.packetsOn(audioMid).length >= audioBefore + 50,
          10_000,
          "audio after the re-offer"
        )
      } finally {
        await Promise.all([publisher.close(), viewer.close()])
      }
    },
    45_000
  )

  it("answers a libwebrtc offerer whose audio is bundle-only in a way libwebrtc accepts, and gets both media", async () => {
    const room = "bundle-only-libwebrtc"
    const camera = new SyntheticCamera(320, 240, 30)
    const microphone = new SyntheticMicrophone()
    const pc = new wrtc.RTCPeerConnection({ bundlePolicy: "max-bundle", iceServers: [] })
    try {
      const stream = new wrtc.MediaStream([camera.track, microphone.track])
      pc.addTransceiver(camera.track, { direction: "sendonly", streams: [stream] })
      pc.addTransceiver(microphone.track, { direction: "sendonly", streams: [stream] })
      // libwebrtc does not offer bundle-only sections by itself, but takes one as its own offer.
      const [session = [], video = [], audio = []] = sectionsOf((await pc.createOffer()).sdp)
      await pc.setLocalDescription({ type: "offer", sdp: joinSdp([session, video, asBundleOnly(audio)]) })
      const offer = pc.localDescription!.sdp
      expect(sectionsOf(offer)[2]?.[0]).toMatch(/^m=audio 0 /)
      expect(sectionsOf(offer)[2]).toContain("a=bundle-only")

      const response = await fetch(`${server.baseUrl}/whip/${room}`, {
        method: "POST",
        headers: { "content-type": "application/sdp" },
        body: offer
      })
      expect(response.status).toBe(201)
      const answer = await response.text()
      expect(sectionsOf(answer)[2]?.[0]).toMatch(/^m=audio [1-9]\d* /)
      await pc.setRemoteDescription({ type: "answer", sdp: answer })
      camera.start()
      microphone.start()
      await waitForConnected(pc)

      const view = await viewUntil(server.baseUrl, room, (v) => {
        const publications = v.participants[0]?.publications ?? []
        return publications.length === 2 && publications.every((p) => p.packetsReceived > 0)
      })
      expect(view.participants[0]!.publications.map((p) => p.kind).sort()).toEqual(["audio", "video"])
      const sentAudio = await findStats(pc, "outbound-rtp", "audio")
      expect(Number(sentAudio?.["packetsSent"] ?? 0)).toBeGreaterThan(0)
    } finally {
      camera.stop()
      microphone.stop()
      pc.close()
    }
  }, 30_000)
})
