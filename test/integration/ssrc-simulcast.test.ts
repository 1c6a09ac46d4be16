import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  GenericNack,
  PictureLossIndication,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpTransceiver,
  RtcpPayloadSpecificFeedback,
  RtcpTransportLayerFeedback,
  RtpHeader,
  useNACK,
  usePLI,
  useSdesMid
} from "werift"
import { seqDiff } from "../../src/media/sequence-number.ts"
import type { RoomView } from "../../src/room/room-view.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { type ReceivedPacket, TestClient, waitFor } from "../support/werift-client.ts"

/**
 * A publisher that signals simulcast the legacy way (Jitsi-style munged SDP, some native
 * stacks): `a=ssrc-group:SIM` over three media SSRCs, a FID pair per layer, no rids. It sends
 * synthetic VP8 on each SSRC itself (keyframes announce the layer's picture size), answers
 * PLIs per layer, and answers NACKs with RTX on the layer's FID SSRC. Once in a while it
 * withholds a packet, so only its retransmission can fill the hole.
 */

interface LayerSpec {
  readonly ssrc: number
  readonly rtxSsrc: number
  /** written into every payload's third byte: which layer a subscriber got */
  readonly tag: number
  readonly width: number
  readonly height: number
  readonly packetsPerFrame: number
  readonly packetBytes: number
}

/** Lowest first, as the SIM group declares them; the SSRCs are deliberately not in numeric order. */
const LAYERS: ReadonlyArray<LayerSpec> = [
  {
    ssrc: 3_000_003,
    rtxSsrc: 4_000_003,
    tag: 31,
    width: 320,
    height: 180,
    packetsPerFrame: 1,
    packetBytes: 200
  },
  {
    ssrc: 3_000_001,
    rtxSsrc: 4_000_001,
    tag: 32,
    width: 640,
    height: 360,
    packetsPerFrame: 2,
    packetBytes: 400
  },
  {
    ssrc: 3_000_002,
    rtxSsrc: 4_000_002,
    tag: 33,
    width: 1280,
    height: 720,
    packetsPerFrame: 3,
    packetBytes: 700
  }
]
const VP8 = 96
const RTX = 97
/** Every this many packets of a layer, one is not sent but kept for its retransmission. */
const WITHHOLD_EVERY = 30

/** The offer's SSRC lines: groups first, then the top layer's SSRC, which is the one werift would route alone. */
const ssrcLines = (cname: string): string[] => [
  ...LAYERS.map((l) => `a=ssrc-group:FID ${l.ssrc} ${l.rtxSsrc}`),
  `a=ssrc-group:SIM ${LAYERS.map((l) => l.ssrc).join(" ")}`,
  ...[...LAYERS]
    .reverse()
    .flatMap((l) => [l.ssrc, l.rtxSsrc])
    .flatMap((ssrc) => [`a=ssrc:${ssrc} cname:${cname}`, `a=ssrc:${ssrc} msid:sim-stream sim-track`])
]

const vp8Payload = (layer: LayerSpec, part: number, keyframe: boolean, frame: number): Buffer => {
  const payload = Buffer.alloc(layer.packetBytes)
  payload[0] = part === 0 ? 0x10 : 0x00 // RFC 7741 descriptor: start of partition 0 on a frame's first packet
  if (part === 0 && keyframe) {
    payload[1] = 0x10 // frame tag: key frame (P bit clear), shown
    payload[2] = layer.tag // (first partition size bits, unread here)
    payload.set([0x9d, 0x01, 0x2a], 4)
    payload.writeUInt16LE(layer.width, 7)
    payload.writeUInt16LE(layer.height, 9)
    payload.writeUInt32BE(frame, 11)
  } else {
    payload[1] = 0x01 // inter frame
    payload[2] = layer.tag
    payload.writeUInt32BE(frame, 3)
  }
  return payload
}

interface Sent {
  readonly header: RtpHeader
  readonly payload: Buffer
}

class SsrcSimulcastPublisher {
  readonly paused = new Set<number>()
  readonly pli = new Map<number, number>()
  readonly withheld = new Map<number, number[]>()
  readonly nacked = new Map<number, number[]>()
  rtxSent = 0
  location = ""
  etag = ""
  offer = ""
  private timer: NodeJS.Timeout | undefined
  private readonly history = new Map<number, Map<number, Sent>>()
  private readonly forceKeyframe = new Set<number>(LAYERS.map((l) => l.ssrc))
  private rtxSeq = 0

  private constructor(
    readonly pc: RTCPeerConnection,
    readonly transceiver: RTCRtpTransceiver
  ) {}

  static async join(baseUrl: string, room: string): Promise<SsrcSimulcastPublisher> {
    const pc = new RTCPeerConnection({
      bundlePolicy: "max-bundle",
      codecs: {
        video: [
          new RTCRtpCodecParameters({
            mimeType: "video/VP8",
            clockRate: 90000,
            payloadType: VP8,
            rtcpFeedback: [useNACK(), usePLI()]
          }),
          new RTCRtpCodecParameters({
            mimeType: "video/rtx",
            clockRate: 90000,
            payloadType: RTX,
            parameters: `apt=${VP8}`
          })
        ]
      },
      headerExtensions: { video: [useSdesMid()] },
      iceUseIpv6: false,
      iceStunGatherTimeout: 1
    })
    const transceiver = pc.addTransceiver("video", { direction: "sendonly" })
    const publisher = new SsrcSimulcastPublisher(pc, transceiver)
    await pc.setLocalDescription(await pc.createOffer())
    const local = pc.localDescription!.sdp
    const cname = /a=ssrc:\d+ cname:(\S+)/.exec(local)?.[1] ?? "sim"
    const munged = [
      ...local.split("\r\n").filter((line) => line.length > 0 && !line.startsWith("a=ssrc")),
      ...ssrcLines(cname),
      ""
    ].join("\r\n")
    const response = await fetch(`${baseUrl}/api/v1/rooms/${room}/participants`, {
      method: "POST",
      headers: { "content-type": "application/sdp" },
      body: munged
    })
    if (response.status !== 201) {
      await pc.close()
      throw new Error(`join failed: ${response.status} ${await response.text()}`)
    }
    publisher.location = response.headers.get("location") ?? ""
    publisher.etag = response.headers.get("etag") ?? ""
    publisher.offer = munged
    await pc.setRemoteDescription({ type: "answer", sdp: await response.text() })
    transceiver.sender.dtlsTransport.onRtcp.subscribe((rtcp) => publisher.onRtcp(rtcp))
    return publisher
  }

  get participantId(): string {
    return this.location.split("/").at(-1) ?? ""
  }

  /** Sends its offer again (PATCH): the server applies it anew, with the same layers. */
  async reoffer(baseUrl: string): Promise<number> {
    const response = await fetch(`${baseUrl}${this.location}`, {
      method: "PATCH",
      headers: { "content-type": "application/sdp", "if-match": this.etag },
      body: this.offer
    })
    this.etag = response.headers.get("etag") ?? this.etag
    await response.text()
    return response.status
  }

  async connected(): Promise<void> {
    await waitFor(() => this.pc.connectionState === "connected", 10_000, "publisher to connect")
  }

  start(): void {
    const state = LAYERS.map(() => ({ seq: 100, frame: 0, timestamp: 0, packets: 0 }))
    this.timer = setInterval(() => {
      for (const [index, layer] of LAYERS.entries()) {
        const s = state[index]!
        s.frame++
        s.timestamp += 3000
        if (this.paused.has(layer.ssrc)) continue
        const keyframe = this.forceKeyframe.delete(layer.ssrc) || s.frame % 90 === 0
        for (let part = 0; part < layer.packetsPerFrame; part++) {
          const header = new RtpHeader({
            payloadType: VP8,
            ssrc: layer.ssrc,
            sequenceNumber: s.seq++ & 0xffff,
            timestamp: s.timestamp,
            marker: part === layer.packetsPerFrame - 1
          })
          const payload = vp8Payload(layer, part, keyframe, s.frame)
          this.remember(layer.ssrc, { header, payload })
          // Never a frame's first packet, so the layer's keyframes still start clean.
          if (part > 0 || layer.packetsPerFrame === 1) {
            if (++s.packets % WITHHOLD_EVERY === 0 && !keyframe) {
              this.withheld.set(layer.ssrc, [...(this.withheld.get(layer.ssrc) ?? []), header.sequenceNumber])
              continue
            }
          }
          void this.dtls.sendRtp(payload, header)
        }
      }
    }, 33)
  }

  stop(): void {
    clearInterval(this.timer)
  }

  async close(): Promise<void> {
    this.stop()
    await this.pc.close()
  }

  private get dtls() {
    return this.transceiver.sender.dtlsTransport
  }

  private remember(ssrc: number, sent: Sent): void {
    let history = this.history.get(ssrc)
    if (!history) {
      history = new Map()
      this.history.set(ssrc, history)
    }
    history.set(sent.header.sequenceNumber, sent)
    if (history.size > 512) history.delete(history.keys().next().value!)
  }

  private onRtcp(rtcp: unknown): void {
    if (rtcp instanceof RtcpPayloadSpecificFeedback && rtcp.feedback instanceof PictureLossIndication) {
      const ssrc = rtcp.feedback.mediaSsrc
      this.pli.set(ssrc, (this.pli.get(ssrc) ?? 0) + 1)
      this.forceKeyframe.add(ssrc)
    } else if (rtcp instanceof RtcpTransportLayerFeedback && rtcp.feedback instanceof GenericNack) {
      const ssrc = rtcp.feedback.mediaSourceSsrc
      const layer = LAYERS.find((l) => l.ssrc === ssrc)
      if (!layer) return
      for (const seq of rtcp.feedback.lost) {
        this.nacked.set(ssrc, [...(this.nacked.get(ssrc) ?? []), seq])
        const original = this.history.get(ssrc)?.get(seq)
        if (!original) continue
        const osn = Buffer.alloc(2)
        osn.writeUInt16BE(seq)
        const header = new RtpHeader({
          payloadType: RTX,
          ssrc: layer.rtxSsrc,
          sequenceNumber: this.rtxSeq++ & 0xffff,
          timestamp: original.header.timestamp,
          marker: original.header.marker
        })
        this.rtxSent++
        void this.dtls.sendRtp(Buffer.concat([osn, original.payload]), header)
      }
    }
  }
}

const layerOfTag = (tag: number) => LAYERS.find((l) => l.tag === tag)

/** The viewer's packets cut into runs of one layer, in arrival order. */
const runsOf = (packets: ReadonlyArray<ReceivedPacket>) => {
  const runs: Array<{ tag: number; packets: ReceivedPacket[] }> = []
  for (const packet of packets) {
    const last = runs.at(-1)
    if (last?.tag === packet.tag) last.packets.push(packet)
    else runs.push({ tag: packet.tag, packets: [packet] })
  }
  return runs
}

/** Polls `GET /api/v1/rooms/{room}` until the view satisfies `condition`. */
const viewUntil = async (
  baseUrl: string,
  room: string,
  condition: (view: RoomView) => boolean,
  timeoutMs = 5_000
): Promise<RoomView> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const view = (await (await fetch(`${baseUrl}/api/v1/rooms/${room}`)).json()) as RoomView
    if (condition(view)) return view
    if (Date.now() > deadline) throw new Error(`timed out; last view: ${JSON.stringify(view)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe("simulcast signalled by a=ssrc-group:SIM, through real werift peers", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server.close()
  })

  it("forwards one SSRC layer at a time on one continuous stream, lists the layers, and repairs each layer by its RTX", async () => {
    const room = "ssrc-sim"
    const publisher = await SsrcSimulcastPublisher.join(server.baseUrl, room)
    const viewer = await TestClient.join(server.baseUrl, room, { subscribe: { video: 1 } })
    try {
      await Promise.all([publisher.connected(), viewer.connected()])
      publisher.start()
      const mid = viewer.slotMids[0]!
      await waitFor(() => viewer.packetsOn(mid).length > 120, 15_000, "the viewer's video")

      // The rooms API measures all three layers, ordered by the sizes their keyframes announce.
      let view = await viewUntil(server.baseUrl, room, (v) =>
        v.participants.some((p) => p.publications[0]?.layers.length === 3)
      )
      const publication = view.participants.find((p) => p.id === publisher.participantId)!.publications[0]!
      expect(publication.rids).toEqual([])
      expect(publication.layers.map((l) => [l.width, l.height])).toEqual(
        LAYERS.map((l) => [l.width, l.height])
      )
      expect(publication.layers.every((l) => l.flowing && l.rid === null)).toBe(true)

      // The slot reports the layer the viewer is getting.
      view = await viewUntil(server.baseUrl, room, (v) => {
        const slot = v.participants.flatMap((p) => p.slots).find((s) => s.trackId === publication.id)
        const newest = viewer.packetsOn(mid).at(-1)
        return newest !== undefined && slot?.layer?.width === layerOfTag(newest.tag)?.width
      })
      const slot = view.participants.flatMap((p) => p.slots).find((s) => s.trackId === publication.id)!
      expect(slot.paused).toBeNull()
      expect(slot.layer?.rid).toBeNull()

      // The internal hook names layers without rids by index, lowest first: pin another layer.
      const hook = `${server.internalUrl}/debug/rooms/${room}/participants/${viewer.location.split("/").at(-1)}/slots/${mid}/layer`
      const current = LAYERS.findIndex((l) => l.tag === viewer.packetsOn(mid).at(-1)!.tag)
      const pinned = LAYERS[(current + 1) % LAYERS.length]!
      expect((await fetch(`${hook}/${(current + 1) % LAYERS.length}`, { method: "PUT" })).status).toBe(204)
      await waitFor(() => viewer.packetsOn(mid).at(-1)!.tag === pinned.tag, 10_000, "the pinned layer")
      expect((await fetch(`${hook}/${LAYERS.length}`, { method: "PUT" })).status).toBe(409)
      expect((await fetch(`${hook}/f`, { method: "PUT" })).status).toBe(409)
      expect((await fetch(hook, { method: "DELETE" })).status).toBe(204)

      // The same offer again: werift re-applies it and forgets the RTX mapping unless it is restored.
      expect(await publisher.reoffer(server.baseUrl)).toBe(200)
      const lastBeforeReoffer = viewer.packetsOn(mid).at(-1)!.sequenceNumber

      // The publisher's encoder drops the forwarded layer: the slot moves to another one.
      const first = layerOfTag(viewer.packetsOn(mid).at(-1)!.tag)!
      publisher.paused.add(first.ssrc)
      const beforePause = viewer.packetsOn(mid).length
      await waitFor(
        () =>
          viewer
            .packetsOn(mid)
            .slice(beforePause)
            .filter((p) => p.tag !== first.tag).length > 90,
        15_000,
        "the viewer to get another layer"
      )
      // A hole the publisher leaves in the new layer is repaired by that layer's RTX, restored
      // after the re-offer (the publisher withholds one packet in 30, so this takes a moment).
      await waitFor(
        () => {
          const arrived = firstArrivals(viewer.packetsOn(mid))
          const since = arrived.slice(arrived.findIndex((p) => p.sequenceNumber === lastBeforeReoffer) + 1)
          return since.some((p) => lateFill(p, arrived))
        },
        10_000,
        "a hole after the re-offer to be filled by RTX"
      )
      publisher.stop()
      await new Promise((resolve) => setTimeout(resolve, 500))

      // The viewer's own NACKs may bring a packet twice (the server's answer racing the repair).
      const packets = firstArrivals(viewer.packetsOn(mid))
      // One stream: one SSRC, every sequence number from the first to the last, a repaired hole
      // being the only thing that may arrive out of order.
      expect(new Set(packets.map((p) => p.ssrc)).size).toBe(1)
      const offsets = packets.map((p) => seqDiff(p.sequenceNumber, packets[0]!.sequenceNumber))
      expect(Math.min(...offsets)).toBe(0)
      expect(Math.max(...offsets) + 1).toBe(packets.length)

      // One layer at a time: each run of a layer starts with its keyframe and carries whole frames.
      const runs = runsOf(packets.filter((p) => !lateFill(p, packets)))
      expect(runs.length).toBeGreaterThanOrEqual(3)
      for (const run of runs) {
        const layer = layerOfTag(run.tag)
        expect(layer).toBeDefined()
        expect(run.packets[0]!.keyframe).toBe(true)
      }
      // (A run's last frame may miss a packet the publisher withheld just before the layer stopped.)
      const runEnds = new Set(runs.map((r) => r.packets.at(-1)!.timestamp))
      const byTimestamp = new Map<number, ReceivedPacket[]>()
      for (const p of packets) byTimestamp.set(p.timestamp, [...(byTimestamp.get(p.timestamp) ?? []), p])
      for (const [timestamp, frame] of byTimestamp) {
        if (runEnds.has(timestamp)) continue
        expect(new Set(frame.map((p) => p.tag)).size).toBe(1)
        expect(frame.length).toBe(layerOfTag(frame[0]!.tag)!.packetsPerFrame)
      }

      // The holes the publisher left were NACKed per layer and filled by that layer's RTX.
      const forwarded = new Set(runs.map((r) => layerOfTag(r.tag)!.ssrc))
      for (const ssrc of forwarded) {
        const withheld = publisher.withheld.get(ssrc) ?? []
        expect(withheld.length).toBeGreaterThan(0)
        expect(publisher.nacked.get(ssrc) ?? []).toEqual(expect.arrayContaining(withheld.slice(0, -1)))
      }
      expect(publisher.rtxSent).toBeGreaterThan(0)
      const sinceReoffer = packets.slice(packets.findIndex((p) => p.sequenceNumber === lastBeforeReoffer) + 1)
      expect(sinceReoffer.some((p) => lateFill(p, packets))).toBe(true)
      // Switching asked the publisher for a keyframe of the layer it needed, by that layer's SSRC.
      expect(publisher.pli.has(pinned.ssrc)).toBe(true)
      expect([...publisher.pli.keys()].every((ssrc) => LAYERS.some((l) => l.ssrc === ssrc))).toBe(true)
    } finally {
      await Promise.all([publisher.close(), viewer.close()])
    }
  }, 60_000)
})

/** Each sequence number's first arrival, in arrival order. */
const firstArrivals = (packets: ReadonlyArray<ReceivedPacket>): ReceivedPacket[] => {
  const seen = new Set<number>()
  return packets.filter((p) => !seen.has(p.sequenceNumber) && seen.add(p.sequenceNumber))
}

/** A packet that arrived after a later one: a retransmission that filled a hole. */
const lateFill = (packet: ReceivedPacket, packets: ReadonlyArray<ReceivedPacket>): boolean => {
  const index = packets.indexOf(packet)
  return index > 0 && seqDiff(packet.sequenceNumber, packets[index - 1]!.sequenceNumber) < 0
}
