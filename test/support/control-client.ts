import { Result } from "effect"
import {
  MediaStreamTrack,
  type RTCDataChannel,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpTransceiver,
  RtpHeader,
  RtpPacket,
  useAbsSendTime,
  useAudioLevelIndication,
  useNACK,
  usePLI,
  useSdesMid
} from "werift"
import {
  CONTROL_LABEL,
  decodeServerMessage,
  decodeTopicDelivery,
  type Participant,
  type ServerMessage,
  type SlotBinding,
  TOPICS_LABEL,
  TOPICS_LOSSY_LABEL,
  type TopicDelivery
} from "../../src/protocol/control-protocol.ts"
import { waitFor } from "./werift-client.ts"

/**
 * A werift client that speaks the control protocol: it opens `prism/control` (and the topic
 * channels) in its offer, validates every server message with the shared schemas, keeps the
 * roster it is told about, and publishes synthetic Opus with an RFC 6464 level it can change.
 */

export interface ControlClientOptions {
  readonly publish?: { readonly audio?: boolean; readonly video?: boolean }
  readonly subscribe?: { readonly audio?: number; readonly video?: number }
  readonly topics?: boolean
  /** One byte written into every payload so receivers know whose media they got. */
  readonly tag?: number
}

export interface ReceivedTopic {
  readonly label: string
  readonly message: TopicDelivery
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
    })
  ]
})

const AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

export class ControlClient {
  /** Every server message, in arrival order, validated. */
  readonly messages: ServerMessage[] = []
  /** Frames that failed the shared schemas (should stay empty). */
  readonly invalid: string[] = []
  readonly topicMessages: ReceivedTopic[] = []
  /** Per slot mid, the publisher tags of the packets received. */
  readonly receivedTags = new Map<string, number[]>()
  /** RFC 6464 level (-dBov) stamped on the audio it publishes; 127 is silence. */
  audioLevel = 127
  participantId = ""
  location = ""
  private readonly roster = new Map<string, Participant>()
  private timers: NodeJS.Timeout[] = []
  private audioLevelId: number | undefined
  private readonly audioTrack = new MediaStreamTrack({ kind: "audio" })
  private readonly videoTrack = new MediaStreamTrack({ kind: "video" })
  private forceKeyframe = true

  private constructor(
    readonly baseUrl: string,
    readonly pc: RTCPeerConnection,
    readonly options: ControlClientOptions,
    readonly control: RTCDataChannel,
    readonly topics: RTCDataChannel | undefined,
    readonly lossy: RTCDataChannel | undefined
  ) {}

  static async join(
    baseUrl: string,
    room: string,
    options: ControlClientOptions = {}
  ): Promise<ControlClient> {
    const pc = new RTCPeerConnection({
      bundlePolicy: "max-bundle",
      codecs: codecs(),
      headerExtensions: {
        audio: [useSdesMid(), useAbsSendTime(), useAudioLevelIndication()],
        video: [useSdesMid()]
      },
      iceUseIpv6: false,
      iceStunGatherTimeout: 1
    })
    const control = pc.createDataChannel(CONTROL_LABEL)
    const topics = options.topics ? pc.createDataChannel(TOPICS_LABEL) : undefined
    const lossy = options.topics
      ? pc.createDataChannel(TOPICS_LOSSY_LABEL, { ordered: false, maxRetransmits: 0 })
      : undefined
    const client = new ControlClient(baseUrl, pc, options, control, topics, lossy)
    control.onMessage.subscribe((m) => client.onControl(m))
    for (const channel of [topics, lossy]) {
      channel?.onMessage.subscribe((m) => {
        const decoded = decodeTopicDelivery(JSON.parse(m.toString()))
        if (Result.isSuccess(decoded))
          client.topicMessages.push({ label: channel.label, message: decoded.success })
        else client.invalid.push(m.toString())
      })
    }
    if (options.publish?.audio) pc.addTransceiver(client.audioTrack, { direction: "sendonly" })
    if (options.publish?.video) {
      const t = pc.addTransceiver(client.videoTrack, { direction: "sendonly" })
      t.sender.onPictureLossIndication.subscribe(() => {
        client.forceKeyframe = true
      })
    }
    for (const kind of ["audio", "video"] as const) {
      for (let i = 0; i < (options.subscribe?.[kind] ?? 0); i++) {
        const transceiver = pc.addTransceiver(kind, { direction: "recvonly" })
        transceiver.onTrack.subscribe((track) => {
          track.onReceiveRtp.subscribe((rtp) => client.record(transceiver, rtp))
        })
      }
    }
    await pc.setLocalDescription(await pc.createOffer())
    const response = await fetch(`${baseUrl}/api/v1/rooms/${room}/participants`, {
      method: "POST",
      headers: { "content-type": "application/sdp" },
      body: pc.localDescription!.sdp
    })
    if (response.status !== 201) {
      await pc.close()
      throw new Error(`join failed: ${response.status} ${await response.text()}`)
    }
    client.location = response.headers.get("location") ?? ""
    client.participantId = client.location.split("/").at(-1) ?? ""
    const answer = await response.text()
    const audioSection = answer.split(/\r?\nm=/).find((s) => s.startsWith("audio"))
    const extmap = audioSection && new RegExp(`a=extmap:(\\d+) ${AUDIO_LEVEL_URI}`).exec(audioSection)
    client.audioLevelId = extmap ? Number(extmap[1]) : undefined
    await pc.setRemoteDescription({ type: "answer", sdp: answer })
    return client
  }

  /** Sends a control message (the envelope's `v` added unless given). */
  send(message: Record<string, unknown>): void {
    this.control.send(JSON.stringify({ v: 1, ...message }))
  }

  sendRaw(frame: string | Buffer): void {
    this.control.send(frame)
  }

  publishTopic(reliable: boolean, topic: string, data: unknown): void {
    const channel = reliable ? this.topics : this.lossy
    channel!.send(JSON.stringify({ v: 1, topic, data }))
  }

  async ready(timeoutMs = 10_000): Promise<void> {
    await this.waitFor("bindings", () => true, timeoutMs)
  }

  /** The first message of this type (after `from` messages) that satisfies `predicate`. */
  async waitFor<T extends ServerMessage["type"]>(
    type: T,
    predicate: (message: Extract<ServerMessage, { type: T }>) => boolean,
    timeoutMs = 10_000,
    from = 0
  ): Promise<Extract<ServerMessage, { type: T }>> {
    let found: Extract<ServerMessage, { type: T }> | undefined
    await waitFor(
      () => {
        found = this.messages
          .slice(from)
          .find((m): m is Extract<ServerMessage, { type: T }> => m.type === type && predicate(m as never))
        return found !== undefined
      },
      timeoutMs,
      `a ${type} message`
    )
    return found!
  }

  ofType<T extends ServerMessage["type"]>(type: T): Array<Extract<ServerMessage, { type: T }>> {
    return this.messages.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type)
  }

  /** The roster as the snapshot and the diffs since describe it. */
  get participants(): ReadonlyMap<string, Participant> {
    return this.roster
  }

  get bindings(): ReadonlyArray<SlotBinding> {
    return this.ofType("bindings").at(-1)?.slots ?? []
  }

  tagsOn(mid: string): number[] {
    return this.receivedTags.get(mid) ?? []
  }

  startPublishing(): void {
    const tag = this.options.tag ?? 0
    if (this.options.publish?.audio) {
      let seq = 0
      let ts = 0
      this.timers.push(
        setInterval(() => {
          ts += 960
          const payload = Buffer.alloc(40)
          payload[0] = 0xfc
          payload[2] = tag
          const header = new RtpHeader({ payloadType: 111, sequenceNumber: seq++ & 0xffff, timestamp: ts })
          if (this.audioLevelId !== undefined) {
            header.extensions = [{ id: this.audioLevelId, payload: Buffer.from([0x80 | this.audioLevel]) }]
            header.extension = true
          }
          this.audioTrack.writeRtp(new RtpPacket(header, payload))
        }, 20)
      )
    }
    if (this.options.publish?.video) {
      let seq = 1000
      let ts = 0
      this.timers.push(
        setInterval(() => {
          ts += 3000
          const keyframe = this.forceKeyframe
          this.forceKeyframe = false
          const payload = Buffer.alloc(300)
          payload[0] = 0x10
          payload[1] = keyframe ? 0x00 : 0x01
          payload[2] = tag
          this.videoTrack.writeRtp(
            new RtpPacket(
              new RtpHeader({ payloadType: 96, sequenceNumber: seq++ & 0xffff, timestamp: ts, marker: true }),
              payload
            )
          )
        }, 33)
      )
    }
  }

  async leave(): Promise<void> {
    await fetch(`${this.baseUrl}${this.location}`, { method: "DELETE" }).catch(() => undefined)
    await this.close()
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    this.timers = []
    await this.pc.close()
  }

  private onControl(frame: string | Buffer): void {
    const text = frame.toString()
    const decoded = decodeServerMessage(JSON.parse(text))
    if (Result.isFailure(decoded)) {
      this.invalid.push(text)
      return
    }
    const message = decoded.success
    this.messages.push(message)
    if (message.type === "roster") {
      this.roster.clear()
      for (const p of message.participants) this.roster.set(p.id, p)
    } else if (message.type === "roster-diff") {
      for (const p of message.joined) this.roster.set(p.id, p)
      for (const id of message.left) this.roster.delete(id)
      for (const p of message.updated ?? []) this.roster.set(p.id, p)
      for (const { participantId, publication } of message.published) {
        const p = this.roster.get(participantId)
        if (p) this.roster.set(participantId, { ...p, publications: [...p.publications, publication] })
      }
      const gone = new Set(message.unpublished)
      for (const [id, p] of this.roster) {
        if (p.publications.some((x) => gone.has(x.trackId))) {
          this.roster.set(id, { ...p, publications: p.publications.filter((x) => !gone.has(x.trackId)) })
        }
      }
    }
  }

  private record(transceiver: RTCRtpTransceiver, rtp: RtpPacket): void {
    const mid = transceiver.mid ?? ""
    let list = this.receivedTags.get(mid)
    if (!list) {
      list = []
      this.receivedTags.set(mid, list)
    }
    list.push(rtp.payload[2] ?? -1)
  }
}
