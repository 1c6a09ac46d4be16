import type { RTCDtlsTransport, RTCPeerConnection } from "werift"

/**
 * werift restarts ICE inside `setRemoteDescription` when an offer brings new credentials: the
 * agent gets a new generation and a new check list (the selected pair is kept until the client
 * nominates one of the new generation: see `ice-lite-nomination.ts`). It only starts
 * the agent again, though, for a transport whose DTLS is not connected yet; after a client's
 * restart on a live session it never does. An ICE-lite agent still answers the client's new
 * checks (so the client's side succeeds), but the ones that arrive while its check list is
 * empty (the offer had no candidate it could pair: mDNS names, or an offer sent before
 * gathering ended) are parked until `Connection.connect()` runs, which now never comes: no pair
 * of the new generation is ever nominated, and the server never moves to the client's new pair.
 *
 * `resumeRestartedIce` runs that missing step: after a negotiation, every connected transport
 * whose ICE generation changed starts its agent again, which pairs the new candidates, takes
 * the parked checks and waits for the client's nomination.
 */

/** Each transport's ICE generation, taken before a negotiation. */
export type IceGenerations = ReadonlyMap<RTCDtlsTransport, number>

export const iceGenerations = (pc: RTCPeerConnection): IceGenerations =>
  new Map(pc.dtlsTransports.map((dtls) => [dtls, dtls.iceTransport.connection.generation]))

/**
 * Starts ICE again on the connected transports the negotiation restarted; returns how many.
 * The agent settles when the client nominates a pair of the new generation, or fails on
 * close; a failure shows as the connection state "failed", so it is not reported here.
 */
export const resumeRestartedIce = (pc: RTCPeerConnection, before: IceGenerations): number => {
  let resumed = 0
  for (const dtls of pc.dtlsTransports) {
    const ice = dtls.iceTransport
    const generation = before.get(dtls)
    if (generation === undefined || ice.connection.generation === generation) continue
    if (dtls.state !== "connected" || ice.state === "connected" || ice.state === "closed") continue
    resumed++
    ice.start().catch(() => undefined)
  }
  return resumed
}
