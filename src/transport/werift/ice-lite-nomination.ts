import type { RTCPeerConnection } from "werift"

/**
 * Which candidate pair an ICE-lite server sends on: the one the client nominated last, in the
 * current ICE generation, or, until the client nominates one there, the pair it used before
 * the restart.
 *
 * werift keeps the first pair nominated in a generation and ignores later nominations. A
 * libwebrtc client facing an ICE-lite server nominates (USE-CANDIDATE) whichever pair it has
 * selected, and may select another one a moment later (after an ICE restart it often starts on
 * one interface and settles on another); the server then keeps sending to the first, which the
 * client no longer uses. Connectivity checks that still carry the ufrag of an earlier
 * generation (the client keeps checking its old pair until the new one is up) are answered,
 * as werift does before it gets here, but pair and nominate nothing in the current one.
 *
 * werift also forgets the selected pair the moment a restart offer arrives, so the server sent
 * nothing (media, RTCP, DTLS, SCTP) until the client nominated a pair of the new generation.
 * RFC 8445 §9 has both sides keep using the previous pair until then, and a client may take its
 * time: libwebrtc stays on its old pair while that one has the higher priority and still works
 * (the server keeps answering the old generation's checks), nominating it with the old
 * credentials, so the server never sent to that subscriber again. The restart here keeps the
 * selected pair until a pair of the new generation is nominated.
 */

type Address = readonly [string, number]

interface CandidatePair {
  readonly protocol: unknown
  readonly remoteAddr: Address
  readonly nominated: boolean
}

interface StunRequest {
  readonly attributesKeys: ReadonlyArray<string>
  getAttributeValue(name: "USERNAME"): unknown
}

interface LiteConnection {
  readonly iceLite: boolean
  readonly localUsername: string
  nominated: CandidatePair | undefined
  readonly checkList: ReadonlyArray<CandidatePair>
  checkIncoming: (message: StunRequest, addr: Address, protocol: unknown) => unknown
  restart: () => unknown
}

/** The server's ICE agent (max-bundle: one per peer connection), if werift still has the shape relied on. */
const liteConnectionOf = (pc: RTCPeerConnection): LiteConnection | undefined => {
  const connection = pc.dtlsTransports[0]?.iceTransport.connection as unknown as
    | Partial<LiteConnection>
    | undefined
  if (!connection?.iceLite || typeof connection.checkIncoming !== "function") return undefined
  if (typeof connection.restart !== "function") return undefined
  if (!Array.isArray(connection.checkList) || typeof connection.localUsername !== "string") return undefined
  return connection as LiteConnection
}

/** The server's own ufrag a check was sent to (the first half of USERNAME). */
const checkedUfrag = (message: StunRequest): string | undefined => {
  const username = message.getAttributeValue("USERNAME")
  return typeof username === "string" ? username.split(":")[0] : undefined
}

const sameAddress = (a: Address, b: Address) => a[0] === b[0] && a[1] === b[1]

/**
 * Whether the pair the server sends on was nominated in the current ICE generation (a restart
 * starts a new check list; the pair kept from before it is not on that list).
 */
export const selectedInCurrentGeneration = (connection: {
  readonly nominated: unknown
  readonly checkList: ReadonlyArray<unknown>
}): boolean => connection.nominated !== undefined && connection.checkList.includes(connection.nominated)

/** Makes the server's ICE agent follow the client's latest nomination; false if werift changed shape. */
export const followClientNomination = (pc: RTCPeerConnection): boolean => {
  const connection = liteConnectionOf(pc)
  if (!connection) return false
  const checkIncoming = connection.checkIncoming
  connection.checkIncoming = function (this: unknown, message, addr, protocol) {
    if (checkedUfrag(message) !== connection.localUsername) return undefined
    const result = checkIncoming.call(this, message, addr, protocol)
    const current = connection.nominated
    if (current === undefined || !message.attributesKeys.includes("USE-CANDIDATE")) return result
    const pair = connection.checkList.find((p) => p.protocol === protocol && sameAddress(p.remoteAddr, addr))
    if (pair && pair !== current && pair.nominated) connection.nominated = pair
    return result
  }
  // werift's restart body is synchronous (an async function without awaits): the pair is back
  // before anything else runs.
  const restart = connection.restart
  connection.restart = function (this: unknown) {
    const selected = connection.nominated
    const result = restart.call(this)
    if (selected !== undefined) connection.nominated = selected
    return result
  }
  return true
}
