import { ArrivalLog } from "./arrival-log.ts"
import { iceUfrag, type PatchResult, patchOffer } from "./patch-offer.ts"
import { waitUntil } from "./polling.ts"
import { type WrtcTrack, wrtc } from "./wrtc-client.ts"
import {
  type RestartablePeerConnection,
  selectedSocketTraffic,
  withoutCandidates
} from "./wrtc-ice-restart.ts"

/**
 * A libwebrtc (`@roamhq/wrtc`) participant for restart tests: joins over the participants
 * API, restarts ICE with PATCH as often as asked, and can rewrite each answer before applying
 * it (to put a relay between client and server).
 */

export interface WrtcSessionOptions {
  /** Applied to every answer before libwebrtc sees it. */
  readonly rewriteAnswer?: (answer: string) => string
}

export interface Restarted {
  /** When the answer was applied (`performance.now()`). */
  readonly answeredAt: number
  readonly result: PatchResult
}

export class WrtcSession {
  etag = ""
  url = ""
  /** The last answer, as the server sent it. */
  answer = ""

  private constructor(
    readonly pc: RestartablePeerConnection,
    private readonly rewriteAnswer: (answer: string) => string
  ) {}

  /** Joins `room` with what `pc` already has (transceivers, data channels); waits for gathering (bounded). */
  static async join(
    pc: RestartablePeerConnection,
    baseUrl: string,
    room: string,
    options: WrtcSessionOptions = {}
  ): Promise<WrtcSession> {
    const session = new WrtcSession(pc, options.rewriteAnswer ?? ((answer) => answer))
    await pc.setLocalDescription(await pc.createOffer())
    await waitUntil(() => pc.iceGatheringState === "complete", 2_000)
    const response = await fetch(`${baseUrl}/api/v1/rooms/${room}/participants`, {
      method: "POST",
      headers: { "content-type": "application/sdp" },
      body: pc.localDescription!.sdp
    })
    const answer = await response.text()
    if (response.status !== 201) throw new Error(`join failed: ${response.status} ${answer}`)
    session.url = `${baseUrl}${response.headers.get("location") ?? ""}`
    session.etag = response.headers.get("etag") ?? ""
    session.answer = answer
    await pc.setRemoteDescription({ type: "answer", sdp: session.rewriteAnswer(answer) })
    return session
  }

  get participantId(): string {
    return this.url.split("/").at(-1) ?? ""
  }

  /**
   * Restarts ICE: new credentials, PATCH with the current ETag, the answer applied. With
   * `sendCandidates` it waits (bounded) for gathering and sends the client's candidates;
   * without, the offer goes at once, candidate-free, as a browser's may (mDNS names, or sent
   * before gathering ended), and the server learns the client's address from its checks.
   */
  async restart(options: {
    readonly sendCandidates: boolean
    /** Applied to this answer only, before the session's own rewrite. */
    readonly rewriteAnswer?: ((answer: string) => string) | undefined
  }): Promise<Restarted> {
    const pc = this.pc
    const before = iceUfrag(pc.localDescription?.sdp ?? "")
    pc.restartIce()
    await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }))
    if (options.sendCandidates) {
      await waitUntil(
        () => pc.iceGatheringState === "complete" && /a=candidate:/.test(pc.localDescription?.sdp ?? ""),
        2_000
      )
    }
    const gathered = pc.localDescription!.sdp
    const offer = options.sendCandidates ? gathered : withoutCandidates(gathered)
    if (iceUfrag(offer) === before) throw new Error("the restart offer kept the old ICE credentials")
    const result = await patchOffer(this.url, this.etag, offer)
    if (result.status !== 200) throw new Error(`ICE restart refused: ${result.status} ${result.body}`)
    this.etag = result.etag
    this.answer = result.body
    const answer = options.rewriteAnswer ? options.rewriteAnswer(result.body) : result.body
    await pc.setRemoteDescription({ type: "answer", sdp: this.rewriteAnswer(answer) })
    return { answeredAt: performance.now(), result }
  }

  /** The candidate pair libwebrtc sends on, and every pair it knows. */
  async pairs(): Promise<{ readonly selected: string | undefined; readonly known: ReadonlySet<string> }> {
    const traffic = await selectedSocketTraffic(this.pc)
    return { selected: traffic.selected, known: traffic.pairIds }
  }

  /** Bytes (not STUN) the client's ICE transport has received so far, on any pair. */
  async bytesReceived(): Promise<number> {
    let bytes = 0
    ;(await this.pc.getStats()).forEach((stats) => {
      if (stats["type"] === "transport") bytes += Number(stats["bytesReceived"] ?? 0)
    })
    return bytes
  }
}

/**
 * The answer with the server's candidate at the lowest priority: the pair of the new
 * generation ranks below the one libwebrtc uses, which still works (the server answers checks
 * of earlier generations), so libwebrtc stays on its old pair with its old credentials, as
 * Chromium does at times.
 */
export const withLowestPriority = (answer: string): string =>
  answer.replace(/^(a=candidate:\S+ \d+ udp )\d+ /gm, (_, head: string) => `${head}1 `)

/** Whether libwebrtc sends on a pair it already had before `known` was taken. */
export const onEarlierPair = async (session: WrtcSession, known: ReadonlySet<string>): Promise<boolean> => {
  const { selected } = await session.pairs()
  return selected !== undefined && known.has(selected)
}

/** The payload type the answer gives VP8. */
export const vp8PayloadType = (answer: string): number =>
  Number(/a=rtpmap:(\d+) VP8\/90000/.exec(answer)?.[1])

export interface Freezes {
  readonly count: number
  readonly durationMs: number
}

/**
 * The video freezes libwebrtc counted at a receiver, timed on its own decoding thread, so a
 * busy JavaScript loop does not lengthen them: a frame that came more than max(3 frame
 * durations, a frame duration + 150 ms) after the one before ends a freeze as long as that
 * interval. (Counted when the next frame comes: a stream that never resumes has none.)
 */
export const videoFreezes = async (pc: RestartablePeerConnection): Promise<Freezes> => {
  let count = 0
  let durationMs = 0
  ;(await pc.getStats()).forEach((stats) => {
    if (stats["type"] !== "track" || stats["kind"] !== "video" || stats["remoteSource"] !== true) return
    count += Number(stats["freezeCount"] ?? 0) + Number(stats["pauseCount"] ?? 0)
    durationMs +=
      (Number(stats["totalFreezesDuration"] ?? 0) + Number(stats["totalPausesDuration"] ?? 0)) * 1000
  })
  return { count, durationMs }
}

/** Arrival times of the decoded frames of a received video track (libwebrtc's video sink). */
export const frameArrivals = (
  track: WrtcTrack
): { readonly frames: ArrivalLog; readonly stop: () => void } => {
  const frames = new ArrivalLog()
  const sink = new wrtc.nonstandard.RTCVideoSink(track)
  sink.onframe = () => frames.note()
  return { frames, stop: () => sink.stop() }
}
