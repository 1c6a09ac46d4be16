import {
  type ClientMessageBody,
  CONTROL_LABEL,
  TOPICS_LABEL,
  TOPICS_LOSSY_LABEL
} from "../../src/protocol/control-protocol.ts"
import { iceGathered } from "./ice-gathering.ts"
import { Session } from "./session.ts"
import { deleteParticipant, postOffer } from "./signaling.ts"
import type { JoinOptions, LocalPublication, MediaKind, SlotTrack } from "./types.ts"
import { encodeClientMessage } from "./wire.ts"

/** At most this many receive slots of each kind. */
export const MAX_SLOTS_PER_KIND = 32

/** Simulcast layers, lowest first: quarter, half and full resolution. */
export const SIMULCAST_ENCODINGS: ReadonlyArray<RTCRtpEncodingParameters> = [
  { rid: "q", scaleResolutionDownBy: 4 },
  { rid: "h", scaleResolutionDownBy: 2 },
  { rid: "f", scaleResolutionDownBy: 1 }
]

const checkSlotCount = (kind: MediaKind, count: number) => {
  if (!Number.isInteger(count) || count < 0 || count > MAX_SLOTS_PER_KIND) {
    throw new RangeError(`slots.${kind} must be an integer from 0 to ${MAX_SLOTS_PER_KIND}, not ${count}`)
  }
}

/** The control messages a new session sends first; encoded here so a bad name fails before any network. */
const greetingOf = (options: JoinOptions): ReadonlyArray<ClientMessageBody> => {
  const greeting: Array<ClientMessageBody> = []
  if (options.name !== undefined) greeting.push({ type: "hello", name: options.name })
  if (options.mode !== undefined) greeting.push({ type: "mode", mode: options.mode })
  if (options.topics !== undefined && options.topics.length > 0) {
    greeting.push({ type: "topics", subscribe: [...options.topics], unsubscribe: [] })
  }
  for (const body of greeting) encodeClientMessage(body)
  return greeting
}

/** The tracks to publish: the caller's, or captured from the default camera and microphone. */
const captureTracks = async (options: JoinOptions) => {
  const { video = false, audio = false } = options.publish ?? {}
  const owned: Array<MediaStreamTrack> = []
  if (video === true || audio === true) {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: video === true ? { width: { ideal: 1280 }, height: { ideal: 720 } } : false,
      audio: audio === true
    })
    owned.push(...stream.getTracks())
  }
  const pick = (kind: MediaKind, option: boolean | MediaStreamTrack) =>
    option === false ? undefined : option === true ? owned.find((t) => t.kind === kind) : option
  return { video: pick("video", video), audio: pick("audio", audio), owned }
}

/**
 * Joins `room` on the Prism server at `url` (e.g. `https://sfu.example.com` or `/` for the
 * page's own origin): captures or takes the tracks to publish, opens one peer connection with
 * the control and topic data channels and `slots` receive slots, and posts the offer to the
 * participants API. Resolves once the answer is applied; media and the control channel come
 * up moments later (watch the `state` event). Rejects with a `SignalingError` when the server
 * refuses, a `RangeError` for invalid options, or the browser's own error for media capture.
 */
export const join = async (url: string, room: string, options: JoinOptions): Promise<Session> => {
  checkSlotCount("video", options.slots.video)
  checkSlotCount("audio", options.slots.audio)
  const greeting = greetingOf(options)
  const server = new URL(url, globalThis.location?.href)
  const signaling = {
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch })
  }
  const iceGatheringTimeoutMs = options.iceGatheringTimeoutMs ?? 1000

  const tracks = await captureTracks(options)
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", ...options.rtcConfiguration })
  let location: string | undefined
  try {
    const control = pc.createDataChannel(CONTROL_LABEL, { ordered: true })
    const topics = pc.createDataChannel(TOPICS_LABEL, { ordered: true })
    const topicsLossy = pc.createDataChannel(TOPICS_LOSSY_LABEL, { ordered: false, maxRetransmits: 0 })

    const localStream = new MediaStream()
    const sending: Array<{ kind: MediaKind; track: MediaStreamTrack; transceiver: RTCRtpTransceiver }> = []
    if (tracks.video !== undefined) {
      localStream.addTrack(tracks.video)
      const transceiver = pc.addTransceiver(tracks.video, {
        direction: "sendonly",
        streams: [localStream],
        ...(options.publish?.simulcast === true
          ? { sendEncodings: SIMULCAST_ENCODINGS.map((e) => ({ ...e })) }
          : {})
      })
      sending.push({ kind: "video", track: tracks.video, transceiver })
    }
    if (tracks.audio !== undefined) {
      localStream.addTrack(tracks.audio)
      const transceiver = pc.addTransceiver(tracks.audio, { direction: "sendonly", streams: [localStream] })
      sending.push({ kind: "audio", track: tracks.audio, transceiver })
    }
    const receiving: Array<{ kind: MediaKind; transceiver: RTCRtpTransceiver }> = []
    for (const kind of ["video", "audio"] as const) {
      for (let i = 0; i < options.slots[kind]; i++) {
        receiving.push({ kind, transceiver: pc.addTransceiver(kind, { direction: "recvonly" }) })
      }
    }

    await pc.setLocalDescription()
    await iceGathered(pc, iceGatheringTimeoutMs)
    const offer = pc.localDescription?.sdp
    if (offer === undefined) throw new Error("the browser produced no offer")
    const resource = await postOffer(server, room, offer, signaling)
    location = resource.location
    await pc.setRemoteDescription({ type: "answer", sdp: resource.answer })

    const publications: Array<LocalPublication> = sending.map(({ kind, track, transceiver }) => ({
      mid: transceiver.mid ?? "",
      kind,
      track,
      sender: transceiver.sender
    }))
    const slots: Array<SlotTrack> = receiving.map(({ kind, transceiver }) => ({
      mid: transceiver.mid ?? "",
      kind,
      track: transceiver.receiver.track,
      receiver: transceiver.receiver
    }))
    return new Session({
      pc,
      control,
      topics,
      topicsLossy,
      location: resource.location,
      participantId: resource.participantId,
      etag: resource.etag,
      localStream,
      publications,
      slots,
      ownedTracks: tracks.owned,
      signaling,
      iceGatheringTimeoutMs,
      greeting
    })
  } catch (error) {
    pc.close()
    for (const track of tracks.owned) track.stop()
    if (location !== undefined) await deleteParticipant(location, signaling).catch(() => undefined)
    throw error
  }
}
