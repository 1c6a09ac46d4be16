import { createRequire } from "node:module"

/**
 * A libwebrtc client for end-to-end tests, through `@roamhq/wrtc` (native libwebrtc in
 * Node). The package's types lean on the DOM lib, which this project does not load, so the
 * few parts the tests use are typed here.
 */

export interface WrtcTrack {
  readonly kind: string
  readonly id: string
  stop(): void
}

export interface WrtcStream {
  readonly id: string
}

export interface WrtcTransceiver {
  readonly mid: string | null
  readonly direction: string
  readonly receiver: { readonly track: WrtcTrack }
  readonly sender: { readonly track: WrtcTrack | null }
  stop?(): void
}

export interface WrtcSessionDescription {
  readonly type: string
  readonly sdp: string
}

export interface WrtcStatsReport {
  forEach(callback: (value: Record<string, unknown>) => void): void
}

export interface WrtcPeerConnection {
  readonly connectionState: string
  readonly iceConnectionState: string
  readonly iceGatheringState: string
  readonly localDescription: WrtcSessionDescription | null
  onicegatheringstatechange: (() => void) | null
  onconnectionstatechange: (() => void) | null
  ontrack: ((event: { track: WrtcTrack; transceiver: WrtcTransceiver }) => void) | null
  addTransceiver(
    trackOrKind: WrtcTrack | "audio" | "video",
    init?: { direction?: string; streams?: WrtcStream[] }
  ): WrtcTransceiver
  getTransceivers(): WrtcTransceiver[]
  createOffer(): Promise<WrtcSessionDescription>
  setLocalDescription(description: WrtcSessionDescription): Promise<void>
  setRemoteDescription(description: WrtcSessionDescription): Promise<void>
  getStats(): Promise<WrtcStatsReport>
  close(): void
}

export interface WrtcVideoFrame {
  readonly width: number
  readonly height: number
  readonly data: Uint8Array
}

export interface WrtcVideoSource {
  createTrack(): WrtcTrack
  onFrame(frame: WrtcVideoFrame): void
}

export interface WrtcVideoSink {
  onframe: ((event: { frame: WrtcVideoFrame }) => void) | null
  stop(): void
}

export interface WrtcAudioSource {
  createTrack(): WrtcTrack
  onData(data: {
    samples: Int16Array
    sampleRate: number
    bitsPerSample?: number
    channelCount?: number
    numberOfFrames?: number
  }): void
}

export interface Wrtc {
  readonly RTCPeerConnection: new (config?: Record<string, unknown>) => WrtcPeerConnection
  readonly MediaStream: new (tracks?: WrtcTrack[]) => WrtcStream
  readonly nonstandard: {
    readonly RTCVideoSource: new (init?: { isScreencast?: boolean }) => WrtcVideoSource
    readonly RTCVideoSink: new (track: WrtcTrack) => WrtcVideoSink
    readonly RTCAudioSource: new () => WrtcAudioSource
  }
}

export const wrtc = createRequire(import.meta.url)("@roamhq/wrtc") as Wrtc

const waitUntil = async (condition: () => boolean, timeoutMs: number, what: string) => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** A synthetic camera: I420 frames with a moving bar, so the encoder has real work to do. */
export class SyntheticCamera {
  readonly source = new wrtc.nonstandard.RTCVideoSource()
  readonly track: WrtcTrack = this.source.createTrack()
  framesFed = 0
  private timer: NodeJS.Timeout | undefined

  constructor(
    readonly width = 320,
    readonly height = 240,
    readonly fps = 30
  ) {}

  start(): void {
    if (this.timer) return
    const { width, height } = this
    const lumaSize = width * height
    const data = new Uint8Array(lumaSize * 1.5)
    data.fill(128, lumaSize)
    this.timer = setInterval(
      () => {
        const n = this.framesFed++
        const bar = (n * 4) % width
        for (let y = 0; y < height; y++) {
          const row = y * width
          for (let x = 0; x < width; x++) {
            data[row + x] = Math.abs(x - bar) < 16 ? 235 : ((x + y + n) & 0x3f) + 40
          }
        }
        this.source.onFrame({ width, height, data })
      },
      Math.round(1000 / this.fps)
    )
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.track.stop()
  }
}

/** A synthetic microphone: 10 ms chunks of a 440 Hz tone, mono 48 kHz. */
export class SyntheticMicrophone {
  readonly source = new wrtc.nonstandard.RTCAudioSource()
  readonly track: WrtcTrack = this.source.createTrack()
  private timer: NodeJS.Timeout | undefined

  start(): void {
    if (this.timer) return
    const sampleRate = 48_000
    const samples = new Int16Array(sampleRate / 100)
    let phase = 0
    this.timer = setInterval(() => {
      for (let i = 0; i < samples.length; i++) {
        samples[i] = Math.round(Math.sin(phase) * 8000)
        phase += (2 * Math.PI * 440) / sampleRate
      }
      this.source.onData({ samples, sampleRate, bitsPerSample: 16, channelCount: 1 })
    }, 10)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.track.stop()
  }
}

export interface JoinResult {
  readonly location: string
  readonly etag: string
  readonly offer: string
  readonly answer: string
}

/**
 * Joins a room over the participants API: offer (after ICE gathering, bounded), POST,
 * answer. The server is ICE-lite, so the client's own candidates barely matter.
 */
export const joinRoom = async (
  pc: WrtcPeerConnection,
  baseUrl: string,
  room: string,
  gatherTimeoutMs = 2_000
): Promise<JoinResult> => {
  await pc.setLocalDescription(await pc.createOffer())
  await waitUntil(() => pc.iceGatheringState === "complete", gatherTimeoutMs, "ICE gathering").catch(
    () => undefined
  )
  const offer = pc.localDescription!.sdp
  const response = await fetch(`${baseUrl}/api/v1/rooms/${room}/participants`, {
    method: "POST",
    headers: { "content-type": "application/sdp" },
    body: offer
  })
  const answer = await response.text()
  if (response.status !== 201) throw new Error(`join failed: ${response.status} ${answer}`)
  await pc.setRemoteDescription({ type: "answer", sdp: answer })
  return {
    location: response.headers.get("location") ?? "",
    etag: response.headers.get("etag") ?? "",
    offer,
    answer
  }
}

export const waitForConnected = (pc: WrtcPeerConnection, timeoutMs = 10_000): Promise<void> =>
  waitUntil(() => pc.connectionState === "connected", timeoutMs, "libwebrtc peer connection to connect")

/** The first stats entry of `type` (and `kind`, if given), or undefined. */
export const findStats = async (
  pc: WrtcPeerConnection,
  type: string,
  kind?: string
): Promise<Record<string, unknown> | undefined> => {
  const report = await pc.getStats()
  let found: Record<string, unknown> | undefined
  report.forEach((value) => {
    if (found || value["type"] !== type) return
    if (kind !== undefined && value["kind"] !== kind && value["mediaType"] !== kind) return
    found = value
  })
  return found
}
