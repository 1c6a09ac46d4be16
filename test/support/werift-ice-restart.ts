import { randomBytes } from "node:crypto"
import type { MediaStreamTrack, RTCPeerConnection } from "werift"
import { ArrivalLog } from "./arrival-log.ts"
import { iceUfrag, type PatchResult, patchOffer } from "./patch-offer.ts"
import type { TestClient } from "./werift-client.ts"

/**
 * ICE restarts from a werift `TestClient`: a full one, and one that only pretends (a client
 * that keeps using its old pair and credentials after the server answered its restart).
 */

const generations = (pc: RTCPeerConnection) =>
  new Map(pc.dtlsTransports.map((dtls) => [dtls, dtls.iceTransport.connection.generation]))

const resumeIce = (pc: RTCPeerConnection, before: ReturnType<typeof generations>) => {
  for (const dtls of pc.dtlsTransports) {
    const ice = dtls.iceTransport
    if (before.get(dtls) === ice.connection.generation || dtls.state !== "connected") continue
    if (ice.state === "connected" || ice.state === "closed") continue
    ice.start().catch(() => undefined)
  }
}

export const resourceUrl = (client: TestClient): string => `${client.baseUrl}${client.location}`

/**
 * Restarts ICE the way a browser does: new credentials in a new offer, PATCH with the
 * session's ETag, the answer applied; the client's ETag follows.
 *
 * werift as a client has the gap the server's `ice-restart.ts` fills: after the answer it
 * starts the ICE agent again only for a transport whose DTLS is not connected yet, so a
 * restarted client never checks or nominates a pair and sends nothing more (its restart
 * cleared the pair it sent on). `resumeIce` runs that step for the client.
 */
export const restartWeriftIce = async (client: TestClient): Promise<PatchResult> => {
  const pc = client.pc
  const before = generations(pc)
  const oldUfrag = iceUfrag(pc.localDescription?.sdp ?? "")
  pc.restartIce()
  await pc.setLocalDescription(await pc.createOffer())
  const offer = pc.localDescription!.sdp
  if (iceUfrag(offer) === oldUfrag) throw new Error("the restart offer kept the old ICE credentials")
  const result = await patchOffer(resourceUrl(client), client.etag, offer)
  if (result.status !== 200) throw new Error(`ICE restart refused: ${result.status} ${result.body}`)
  await pc.setRemoteDescription({ type: "answer", sdp: result.body })
  resumeIce(pc, before)
  client.etag = result.etag
  return result
}

/** Whether the client's ICE agent sends on a pair it nominated in its current generation. */
export const onPairOfCurrentGeneration = (client: TestClient): boolean =>
  client.pc.dtlsTransports.every(({ iceTransport: { connection } }) => {
    const nominated = connection.nominated
    return nominated !== undefined && connection.checkList.includes(nominated)
  })

/** `sdp` with fresh ICE credentials (what a restart offer differs in), nothing else changed. */
export const withNewIceCredentials = (sdp: string): string => {
  const ufrag = randomBytes(3).toString("hex")
  const pwd = randomBytes(12).toString("hex")
  return sdp.replace(/a=ice-ufrag:\S+/g, `a=ice-ufrag:${ufrag}`).replace(/a=ice-pwd:\S+/g, `a=ice-pwd:${pwd}`)
}

/**
 * A restart the client does not follow through: the client's current offer with new
 * credentials goes to the server, and the answer is dropped. The client keeps its pair and
 * checks it with its old credentials, as libwebrtc does while its old pair has the higher
 * priority and still works.
 */
export const restartWithoutFollowing = (client: TestClient, ifMatch = client.etag): Promise<PatchResult> =>
  patchOffer(resourceUrl(client), ifMatch, withNewIceCredentials(client.pc.localDescription!.sdp))

/** Arrival times of the RTP packets on a client's subscription slots, from its receive callback. */
export const rtpArrivals = (client: TestClient): ArrivalLog => {
  const log = new ArrivalLog()
  const watched = new Set<MediaStreamTrack>()
  const watch = (track: MediaStreamTrack) => {
    if (watched.has(track)) return
    watched.add(track)
    track.onReceiveRtp.subscribe(() => log.note())
  }
  for (const transceiver of client.slotTransceivers) {
    for (const track of transceiver.receiver.tracks) watch(track)
    transceiver.onTrack.subscribe(watch)
  }
  return log
}

/** Arrival times of the SRTCP compounds the server sends a client (reports, feedback, PLI). */
export const rtcpArrivals = (client: TestClient): ArrivalLog => {
  const log = new ArrivalLog()
  for (const dtls of client.pc.dtlsTransports) dtls.onRtcp.subscribe(() => log.note())
  return log
}
