import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpTransceiver,
  RtpHeader,
  RtpPacket,
  useAbsSendTime,
  useAudioLevelIndication,
  useNACK,
  usePLI,
  useSdesMid,
  useTransportWideCC
} from "werift"

/**
 * A real WebRTC client for integration tests: a werift peer connection on loopback that
 * publishes synthetic VP8/Opus RTP (keyframes on request) and records every packet it
 * receives per subscription slot.
 */

export interface ReceivedPacket {
  readonly ssrc: number
  readonly sequenceNumber: number
  readonly timestamp: number
  readonly payloadType: number
  readonly keyframe: boolean
  /** the first payload bytes after our synthetic descriptor: publisher tag + frame counter */
  readonly tag: number
  readonly frame: number
  /** When the client got it (`performance.now()` in the receive callback). */
  readonly atMs: number
}

export interface ClientOptions {
  readonly publish?: { readonly audio?: boolean; readonly video?: boolean }
  readonly subscribe?: { readonly audio?: number; readonly video?: number }
  /** one byte written into every payload so receivers know whose media they got */
  readonly tag?: number
  readonly path?: "participants" | "whip" | "whep"
  /** werift's loss injection, in percent of packets (all kinds) dropped on the way in or out */
  readonly lossPercent?: { readonly inbound?: number; readonly outbound?: number }
}

const codecs = () => ({
  audio: [
    new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: 111 })
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
})

export class TestClient {
  readonly received = new Map<string, ReceivedPacket[]>()
  keyframeRequests = 0
  location = ""
  etag = ""
  answer = ""
  private timers: NodeJS.Timeout[] = []
  private forceKeyframe = true
  private readonly videoTrack = new MediaStreamTrack({ kind: "video" })
  private readonly audioTrack = new MediaStreamTrack({ kind: "audio" })

  private constructor(
    readonly baseUrl: string,
    readonly pc: RTCPeerConnection,
    readonly options: ClientOptions,
    readonly slotTransceivers: ReadonlyArray<RTCRtpTransceiver>
  ) {}

  static async join(baseUrl: string, room: string, options: ClientOptions): Promise<TestClient> {
    const pc = new RTCPeerConnection({
      bundlePolicy: "max-bundle",
      codecs: codecs(),
      headerExtensions: {
        audio: [useSdesMid(), useAbsSendTime(), useTransportWideCC(), useAudioLevelIndication()],
        video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()]
      },
      iceUseIpv6: false,
      iceStunGatherTimeout: 1,
      // werift's knob is inverted: it drops a packet with probability 1 - value/100.
      debug: {
        ...(options.lossPercent?.inbound ? { inboundPacketLoss: 100 - options.lossPercent.inbound } : {}),
        ...(options.lossPercent?.outbound ? { outboundPacketLoss: 100 - options.lossPercent.outbound } : {})
      }
    })
    const slots: RTCRtpTransceiver[] = []
    const client = new TestClient(baseUrl, pc, options, slots)
    if (options.publish?.audio) pc.addTransceiver(client.audioTrack, { direction: "sendonly" })
    if (options.publish?.video) {
      const transceiver = pc.addTransceiver(client.videoTrack, { direction: "sendonly" })
      transceiver.sender.onPictureLossIndication.subscribe(() => {
        client.keyframeRequests++
        client.forceKeyframe = true
      })
    }
    for (const kind of ["audio", "video"] as const) {
      for (let i = 0; i < (options.subscribe?.[kind] ?? 0); i++) {
        const transceiver = pc.addTransceiver(kind, { direction: "recvonly" })
        slots.push(transceiver)
        transceiver.onTrack.subscribe((track) => {
          track.onReceiveRtp.subscribe((rtp) => client.record(transceiver, rtp))
        })
      }
    }
    await pc.setLocalDescription(await pc.createOffer())
    const path =
      options.path === "whip"
        ? `/whip/${room}`
        : options.path === "whep"
          ? `/whep/${room}`
          : `/api/v1/rooms/${room}/participants`
    const response = await fetch(`${baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/sdp" },
      body: pc.localDescription!.sdp
    })
    if (response.status !== 201) {
      await pc.close()
      throw new Error(`join failed: ${response.status} ${await response.text()}`)
    }
    client.location = response.headers.get("location") ?? ""
    client.etag = response.headers.get("etag") ?? ""
    client.answer = await response.text()
    await pc.setRemoteDescription({ type: "answer", sdp: client.answer })
    return client
  }

  get slotMids(): string[] {
    return this.slotTransceivers.map((t) => t.mid ?? "")
  }

  packetsOn(mid: string): ReceivedPacket[] {
    return this.received.get(mid) ?? []
  }

  async connected(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.pc.connectionState === "connected", timeoutMs, "peer connection to connect")
  }

  /** Starts sending 30 fps video (keyframe every 60 frames or on PLI) and 50 pps audio. */
  startPublishing(): void {
    const tag = this.options.tag ?? 0
    let videoSeq = 1000
    let videoTs = 0
    let frame = 0
    if (this.options.publish?.video) {
      this.timers.push(
        setInterval(() => {
          frame++
          const keyframe = this.forceKeyframe || frame % 60 === 0
          this.forceKeyframe = false
          videoTs += 3000
          for (let part = 0; part < 3; part++) {
            const payload = Buffer.alloc(600)
            payload[0] = part === 0 ? 0x10 : 0x00 // VP8 descriptor: S bit on the first packet of a frame
            payload[1] = keyframe ? 0x00 : 0x01 // VP8 header: P bit clear on keyframes
            payload[2] = tag
            payload.writeUInt32BE(frame, 3)
            this.videoTrack.writeRtp(
              new RtpPacket(
                new RtpHeader({
                  payloadType: 96,
                  sequenceNumber: videoSeq++ & 0xffff,
                  timestamp: videoTs,
                  marker: part === 2
                }),
                payload
              )
            )
          }
        }, 33)
      )
    }
    if (this.options.publish?.audio) {
      let audioSeq = 0
      let audioTs = 0
      let packet = 0
      this.timers.push(
        setInterval(() => {
          packet++
          audioTs += 960
          const payload = Buffer.alloc(80)
          payload[0] = 0xfc
          payload[1] = 0
          payload[2] = tag
          payload.writeUInt32BE(packet, 3)
          this.audioTrack.writeRtp(
            new RtpPacket(
              new RtpHeader({ payloadType: 111, sequenceNumber: audioSeq++ & 0xffff, timestamp: audioTs }),
              payload
            )
          )
        }, 20)
      )
    }
  }

  stopPublishing(): void {
    for (const timer of this.timers) clearInterval(timer)
    this.timers = []
  }

  async leave(): Promise<number> {
    const response = await fetch(`${this.baseUrl}${this.location}`, { method: "DELETE" })
    await this.close()
    return response.status
  }

  async close(): Promise<void> {
    this.stopPublishing()
    await this.pc.close()
  }

  private record(transceiver: RTCRtpTransceiver, rtp: RtpPacket): void {
    const mid = transceiver.mid ?? ""
    let list = this.received.get(mid)
    if (!list) {
      list = []
      this.received.set(mid, list)
    }
    const payload = rtp.payload
    list.push({
      ssrc: rtp.header.ssrc,
      sequenceNumber: rtp.header.sequenceNumber,
      timestamp: rtp.header.timestamp,
      payloadType: rtp.header.payloadType,
      keyframe: transceiver.kind === "video" && (payload[0]! & 0x10) !== 0 && (payload[1]! & 0x01) === 0,
      tag: payload[2] ?? -1,
      frame: payload.length >= 7 ? payload.readUInt32BE(3) : -1,
      atMs: performance.now()
    })
  }
}

export const waitFor = async (condition: () => boolean, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
