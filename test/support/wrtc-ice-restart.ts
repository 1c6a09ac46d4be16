import { type WrtcPeerConnection, type WrtcSessionDescription, wrtc } from "./wrtc-client.ts"

/**
 * What the ICE restart tests need from `@roamhq/wrtc` beyond `wrtc-client.ts`: restarting ICE,
 * data channels, and the candidate pair libwebrtc has selected (typed here, as there).
 */

export interface WrtcDataChannel {
  readonly label: string
  readonly readyState: string
  onopen: (() => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  send(data: string): void
  close(): void
}

export interface RestartablePeerConnection extends WrtcPeerConnection {
  restartIce(): void
  createOffer(options?: { iceRestart?: boolean }): Promise<WrtcSessionDescription>
  createDataChannel(label: string, init?: { ordered?: boolean; maxRetransmits?: number }): WrtcDataChannel
}

export const restartablePeerConnection = (): RestartablePeerConnection =>
  new wrtc.RTCPeerConnection({ bundlePolicy: "max-bundle", iceServers: [] }) as RestartablePeerConnection

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const iceUfrag = (sdp: string): string | undefined => /a=ice-ufrag:(\S+)/.exec(sdp)?.[1]

/**
 * The offer without its candidates, as a browser's may reach the server: Chrome hides host
 * addresses behind mDNS names an ICE-lite server cannot pair with, and an offer can be sent
 * before gathering ends. The server then learns the client's addresses from its checks only.
 */
export const withoutCandidates = (sdp: string): string =>
  sdp
    .split("\r\n")
    .filter((line) => !line.startsWith("a=candidate:") && line !== "a=end-of-candidates")
    .join("\r\n")

export interface IceRestartResult {
  /** The ETag the server gave the new session description (for the next PATCH). */
  readonly etag: string
  readonly answer: string
  readonly offerUfrag: string
  readonly answerUfrag: string
}

/**
 * Restarts ICE the way a client does after a network change: new credentials in a new offer,
 * sent with PATCH and the session's ETag, and the server's answer applied. Waits (bounded) for
 * the client's new candidates, as the join does.
 */
export const restartIceThroughPatch = async (
  pc: RestartablePeerConnection,
  url: string,
  etag: string,
  options: { readonly sendCandidates: boolean; readonly gatherTimeoutMs?: number }
): Promise<IceRestartResult> => {
  const gatherTimeoutMs = options.gatherTimeoutMs ?? 2_000
  const before = iceUfrag(pc.localDescription?.sdp ?? "")
  pc.restartIce()
  await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }))
  const deadline = Date.now() + gatherTimeoutMs
  while (
    !(pc.iceGatheringState === "complete" && /a=candidate:/.test(pc.localDescription?.sdp ?? "")) &&
    Date.now() < deadline
  ) {
    await sleep(25)
  }
  const gathered = pc.localDescription!.sdp
  const offer = options.sendCandidates ? gathered : withoutCandidates(gathered)
  const offerUfrag = iceUfrag(offer)
  if (!offerUfrag || offerUfrag === before) throw new Error("the restart offer kept the old ICE credentials")
  const response = await fetch(url, {
    method: "PATCH",
    headers: { "content-type": "application/sdp", "if-match": etag },
    body: offer
  })
  const answer = await response.text()
  if (response.status !== 200) throw new Error(`ICE restart refused: ${response.status} ${answer}`)
  await pc.setRemoteDescription({ type: "answer", sdp: answer })
  return {
    etag: response.headers.get("etag") ?? "",
    answer,
    offerUfrag,
    answerUfrag: iceUfrag(answer) ?? ""
  }
}

export interface SocketTraffic {
  /** The client's local address and port of the selected candidate pair. */
  readonly socket: string | undefined
  /** Bytes (not STUN) received and sent through that socket, over every pair that uses it. */
  readonly received: number
  readonly sent: number
  /** Ids of every candidate pair libwebrtc knows. */
  readonly pairIds: ReadonlySet<string>
  readonly selected: string | undefined
}

/**
 * Traffic through the client's socket of the selected candidate pair. Summed over every pair
 * on that socket, because libwebrtc keeps its sockets across an ICE restart and credits what
 * arrives from the server's (unchanged) address to the first pair it finds on the socket,
 * which may be one of the old generation.
 */
export const selectedSocketTraffic = async (pc: WrtcPeerConnection): Promise<SocketTraffic> => {
  const entries: Array<Record<string, unknown>> = []
  ;(await pc.getStats()).forEach((value) => {
    entries.push(value)
  })
  const sockets = new Map<string, string>()
  for (const e of entries) {
    if (e["type"] !== "local-candidate") continue
    sockets.set(String(e["id"]), `${String(e["address"] ?? e["ip"])}:${String(e["port"])}`)
  }
  const pairs = entries.filter((e) => e["type"] === "candidate-pair")
  const selectedId = entries.find((e) => e["type"] === "transport" && e["selectedCandidatePairId"])?.[
    "selectedCandidatePairId"
  ]
  const selected = pairs.find((p) => p["id"] === selectedId)
  const socket = selected ? sockets.get(String(selected["localCandidateId"])) : undefined
  let received = 0
  let sent = 0
  for (const pair of pairs) {
    if (socket === undefined || sockets.get(String(pair["localCandidateId"])) !== socket) continue
    received += Number(pair["bytesReceived"] ?? 0)
    sent += Number(pair["bytesSent"] ?? 0)
  }
  return {
    socket,
    received,
    sent,
    pairIds: new Set(pairs.map((p) => String(p["id"]))),
    selected: typeof selectedId === "string" ? selectedId : undefined
  }
}

/** `prism/control` from a libwebrtc client: every JSON message the server sent, in order. */
export class WrtcControlChannel {
  readonly messages: Array<Record<string, unknown>> = []
  readonly channel: WrtcDataChannel

  constructor(pc: RestartablePeerConnection) {
    this.channel = pc.createDataChannel("prism/control")
    this.channel.onmessage = ({ data }) => {
      if (typeof data !== "string") return
      try {
        this.messages.push(JSON.parse(data) as Record<string, unknown>)
      } catch {
        this.messages.push({ type: "unparsable", data })
      }
    }
  }

  send(message: Record<string, unknown>): void {
    this.channel.send(JSON.stringify({ v: 1, ...message }))
  }

  has(predicate: (message: Record<string, unknown>) => boolean): boolean {
    return this.messages.some(predicate)
  }
}
