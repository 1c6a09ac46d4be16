/**
 * A client process of the churn soak, forked by `bench/soak.ts`; every peer connection is
 * libwebrtc (`@roamhq/wrtc`), set up the way the browser SDK does (`client/src/join.ts`:
 * max-bundle, the control and topic data channels, sendonly camera and microphone, recvonly
 * slots).
 *
 * - `steady`: one publisher (camera + microphone) and one subscriber (a video and an audio
 *   slot, and the control channel) that stay for the whole soak; the subscriber times the
 *   frames it decodes, so a stall shows as a long gap.
 * - `churn`: N loops, each joining (POST offer, connect, control hello, a topic message, media
 *   for a few seconds) and leaving (DELETE, close) over and over until told time is up.
 *
 * Usage (by the orchestrator only): `soak-client.ts steady|churn`, driven over IPC.
 */
import {
  SyntheticCamera,
  SyntheticMicrophone,
  type WrtcPeerConnection,
  type WrtcTrack,
  wrtc
} from "../test/support/wrtc-client.ts"
import type { ChurnTally, FromSoakClient, SoakRole, ToSoakClient } from "./soak-protocol.ts"

const role = process.argv[2] as SoakRole
if (role !== "steady" && role !== "churn") {
  console.error("usage: soak-client.ts steady|churn (forked by bench/soak.ts)")
  process.exit(2)
}
if (!process.send) {
  console.error("soak-client.ts must be forked with an IPC channel by bench/soak.ts")
  process.exit(2)
}

const send = (message: FromSoakClient) => process.send?.(message)
process.on("disconnect", () => process.exit(0))
process.on("unhandledRejection", (error) =>
  send({ type: "error", message: `unhandled rejection: ${String(error)}` })
)

interface DataChannel {
  readonly readyState: string
  onopen: (() => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  send(data: string): void
  close(): void
}

type PeerConnection = WrtcPeerConnection & {
  createDataChannel(label: string, init?: { ordered?: boolean; maxRetransmits?: number }): DataChannel
}

interface VideoSink {
  onframe: (() => void) | null
  stop(): void
}

const newPeer = () => new wrtc.RTCPeerConnection({ bundlePolicy: "max-bundle" }) as PeerConnection
const newVideoSink = (track: WrtcTrack) =>
  new (wrtc.nonstandard as unknown as { RTCVideoSink: new (t: WrtcTrack) => VideoSink }).RTCVideoSink(track)

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const until = async (condition: () => boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) return false
    await sleep(25)
  }
  return true
}

const controlChannels = (pc: PeerConnection) => ({
  control: pc.createDataChannel("prism/control", { ordered: true }),
  topics: pc.createDataChannel("prism/topics", { ordered: true }),
  topicsLossy: pc.createDataChannel("prism/topics-lossy", { ordered: false, maxRetransmits: 0 })
})

interface Offered {
  readonly status: number
  readonly location: string | undefined
}

/** Offer (after ICE gathering, at most 1 s, as the SDK does), POST, and apply the answer on 201. */
const postOffer = async (pc: PeerConnection, baseUrl: string, room: string): Promise<Offered> => {
  await pc.setLocalDescription(await pc.createOffer())
  await until(() => pc.iceGatheringState === "complete", 1_000)
  const response = await fetch(`${baseUrl}/api/v1/rooms/${encodeURIComponent(room)}/participants`, {
    method: "POST",
    headers: { "content-type": "application/sdp" },
    body: pc.localDescription!.sdp,
    signal: AbortSignal.timeout(15_000)
  })
  const body = await response.text()
  if (response.status !== 201) return { status: response.status, location: undefined }
  await pc.setRemoteDescription({ type: "answer", sdp: body })
  return { status: response.status, location: response.headers.get("location") ?? undefined }
}

const deleteResource = async (baseUrl: string, location: string): Promise<number> =>
  (await fetch(`${baseUrl}${location}`, { method: "DELETE", signal: AbortSignal.timeout(10_000) })).status

const connected = (pc: PeerConnection, timeoutMs: number) =>
  until(() => pc.connectionState === "connected", timeoutMs)

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

// ---------------------------------------------------------------- steady pair

interface Steady {
  readonly baseUrl: string
  readonly publisher: { pc: PeerConnection; location: string }
  readonly subscriber: { pc: PeerConnection; location: string }
  readonly camera: SyntheticCamera
  readonly microphone: SyntheticMicrophone
  readonly sink: VideoSink
}

let steady: Steady | undefined
let periodStartedAt = performance.now()
let lastFrameAt: number | undefined
let maxFrameGapMs = 0
let videoFrames = 0
let controlMessages = 0

const joinSteady = async (baseUrl: string, room: string) => {
  const camera = new SyntheticCamera(320, 240, 30)
  const microphone = new SyntheticMicrophone()
  const stream = new wrtc.MediaStream([camera.track, microphone.track])
  const publisherPc = newPeer()
  publisherPc.addTransceiver(camera.track, { direction: "sendonly", streams: [stream] })
  publisherPc.addTransceiver(microphone.track, { direction: "sendonly", streams: [stream] })
  camera.start()
  microphone.start()
  const published = await postOffer(publisherPc, baseUrl, room)
  if (!published.location) throw new Error(`steady publisher: join answered ${published.status}`)

  const subscriberPc = newPeer()
  const { control } = controlChannels(subscriberPc)
  control.onmessage = () => {
    controlMessages++
  }
  const video = subscriberPc.addTransceiver("video", { direction: "recvonly" })
  subscriberPc.addTransceiver("audio", { direction: "recvonly" })
  const sink = newVideoSink(video.receiver.track)
  sink.onframe = () => {
    const now = performance.now()
    maxFrameGapMs = Math.max(maxFrameGapMs, now - (lastFrameAt ?? periodStartedAt))
    lastFrameAt = now
    videoFrames++
  }
  const subscribed = await postOffer(subscriberPc, baseUrl, room)
  if (!subscribed.location) throw new Error(`steady subscriber: join answered ${subscribed.status}`)
  steady = {
    baseUrl,
    publisher: { pc: publisherPc, location: published.location },
    subscriber: { pc: subscriberPc, location: subscribed.location },
    camera,
    microphone,
    sink
  }
  const up = await Promise.all([connected(publisherPc, 15_000), connected(subscriberPc, 15_000)])
  if (!up.every(Boolean)) throw new Error("steady pair did not connect within 15 s")
  if (!(await until(() => videoFrames > 0, 15_000)))
    throw new Error("steady subscriber decoded no frame in 15 s")
  reportSteady()
  send({ type: "steady-joined" })
}

/** What the subscriber saw since the last report; the gap still open at the end counts too. */
const reportSteady = () => {
  const now = performance.now()
  const openGap = now - (lastFrameAt ?? periodStartedAt)
  send({
    type: "steady-period",
    seconds: (now - periodStartedAt) / 1000,
    videoFrames,
    maxFrameGapMs: Math.max(maxFrameGapMs, openGap),
    controlMessages,
    connectionState: steady?.subscriber.pc.connectionState ?? "none"
  })
  periodStartedAt = now
  lastFrameAt = undefined
  maxFrameGapMs = 0
  videoFrames = 0
  controlMessages = 0
}

const leaveSteady = async () => {
  if (!steady) return
  const { baseUrl, publisher, subscriber, camera, microphone, sink } = steady
  steady = undefined
  sink.stop()
  for (const side of [subscriber, publisher]) {
    await deleteResource(baseUrl, side.location).catch(() => undefined)
    side.pc.close()
  }
  camera.stop()
  microphone.stop()
}

// ---------------------------------------------------------------- churners

const tally = {
  joins: 0,
  leaves: 0,
  joinStatuses: {} as Record<string, number>,
  leaveStatuses: {} as Record<string, number>,
  notConnected: 0,
  welcomed: 0,
  errors: {} as Record<string, number>
}
const bump = (counts: Record<string, number>, key: string | number) => {
  counts[key] = (counts[key] ?? 0) + 1
}

let churnCamera: SyntheticCamera | undefined
let churnMicrophone: SyntheticMicrophone | undefined

/** One join, a few seconds in the room, one leave. */
const churnOnce = async (
  message: Extract<ToSoakClient, { type: "churn" }>,
  index: number,
  cycle: number,
  stream: unknown
) => {
  const room = index % 2 === 0 ? message.sharedRoom : `${message.roomPrefix}-${index}-${cycle}`
  const pc = newPeer()
  let location: string | undefined
  try {
    const { control, topics } = controlChannels(pc)
    let welcomed = false
    control.onopen = () => {
      control.send(JSON.stringify({ v: 1, type: "hello", name: `churner ${index}` }))
      control.send(JSON.stringify({ v: 1, type: "topics", subscribe: ["chat"], unsubscribe: [] }))
    }
    control.onmessage = (event) => {
      if (!welcomed && typeof event.data === "string" && event.data.includes('"type":"welcome"')) {
        welcomed = true
        tally.welcomed++
      }
    }
    topics.onopen = () =>
      topics.send(JSON.stringify({ v: 1, topic: "chat", data: { text: `hi from ${index}` } }))
    pc.addTransceiver(churnCamera!.track, { direction: "sendonly", streams: [stream as never] })
    pc.addTransceiver(churnMicrophone!.track, { direction: "sendonly", streams: [stream as never] })
    pc.addTransceiver("video", { direction: "recvonly" })
    pc.addTransceiver("audio", { direction: "recvonly" })
    tally.joins++
    const offered = await postOffer(pc, message.baseUrl, room)
    bump(tally.joinStatuses, offered.status)
    location = offered.location
    if (!location) return
    if (!(await connected(pc, 10_000))) tally.notConnected++
    const [low, high] = message.holdMs
    await sleep(low + Math.random() * (high - low))
  } catch (error) {
    bump(tally.errors, messageOf(error))
  } finally {
    if (location) {
      tally.leaves++
      await deleteResource(message.baseUrl, location).then(
        (status) => bump(tally.leaveStatuses, status),
        (error: unknown) => bump(tally.errors, `leave: ${messageOf(error)}`)
      )
    }
    pc.close()
  }
}

const churn = async (message: Extract<ToSoakClient, { type: "churn" }>) => {
  churnCamera = new SyntheticCamera(160, 120, 15)
  churnMicrophone = new SyntheticMicrophone()
  churnCamera.start()
  churnMicrophone.start()
  const stream = new wrtc.MediaStream([churnCamera.track, churnMicrophone.track])
  const deadline = performance.now() + message.seconds * 1000
  const loop = async (index: number) => {
    // spread the first joins over a second so the churners do not move in lockstep
    await sleep(Math.random() * 1000)
    for (let cycle = 0; performance.now() < deadline; cycle++) {
      await churnOnce(message, index, cycle, stream)
      await sleep(100 + Math.random() * 200)
    }
  }
  await Promise.all(Array.from({ length: message.churners }, (_, i) => loop(i)))
  churnCamera.stop()
  churnMicrophone.stop()
  const result: ChurnTally = tally
  send({ type: "churned", ...result })
}

// ---------------------------------------------------------------- IPC

process.on("message", (message: ToSoakClient) => {
  const run = async () => {
    switch (message.type) {
      case "steady-join":
        return joinSteady(message.baseUrl, message.room)
      case "steady-report":
        return reportSteady()
      case "churn":
        return churn(message)
      case "leave":
        await leaveSteady()
        send({ type: "left" })
        setTimeout(() => process.exit(0), 50)
        return
    }
  }
  run().catch((error: unknown) => send({ type: "error", message: messageOf(error) }))
})

send({ type: "ready" })
