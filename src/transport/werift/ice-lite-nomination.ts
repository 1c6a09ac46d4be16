import type { RTCPeerConnection } from "werift"

/**
 * Which candidate pair an ICE-lite server sends on: the one the client nominated last, in the
 * current ICE generation.
 *
 * werift keeps the first pair nominated in a generation and ignores later nominations. A
 * libwebrtc client facing an ICE-lite server nominates (USE-CANDIDATE) whichever pair it has
 * selected, and may select another one a moment later (after an ICE restart it often starts on
 * one interface and settles on another); the server then keeps sending to the first, which the
 * client no longer uses. Connectivity checks that still carry the ufrag of an earlier
 * generation (the client keeps checking its old pair until the new one is up) are answered,
 * as werift does before it gets here, but pair and nominate nothing in the current one.
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
}

/** The server's ICE agent (max-bundle: one per peer connection), if werift still has the shape relied on. */
const liteConnectionOf = (pc: RTCPeerConnection): LiteConnection | undefined => {
  const connection = pc.dtlsTransports[0]?.iceTransport.connection as unknown as
    | Partial<LiteConnection>
    | undefined
  if (!connection?.iceLite || typeof connection.checkIncoming !== "function") return undefined
  if (!Array.isArray(connection.checkList) || typeof connection.localUsername !== "string") return undefined
  return connection as LiteConnection
}

/** The server's own ufrag a check was sent to (the first half of USERNAME). */
const checkedUfrag = (message: StunRequest): string | undefined => {
  const username = message.getAttributeValue("USERNAME")
  return typeof username === "string" ? username.split(":")[0] : undefined
}

const sameAddress = (a: Address, b: Address) => a[0] === b[0] && a[1] === b[1]

/** Makes the server's ICE agent follow the client's latest nomination; false if werift changed shape. */
export const followClientNomination = (pc: RTCPeerConnection): boolean => {
  const connection = liteConnectionOf(pc)
  if (!connection) return false
  const original = connection.checkIncoming
  connection.checkIncoming = function (this: unknown, message, addr, protocol) {
    if (checkedUfrag(message) !== connection.localUsername) return undefined
    const result = original.call(this, message, addr, protocol)
    const current = connection.nominated
    if (current === undefined || !message.attributesKeys.includes("USE-CANDIDATE")) return result
    const pair = connection.checkList.find((p) => p.protocol === protocol && sameAddress(p.remoteAddr, addr))
    if (pair && pair !== current && pair.nominated) connection.nominated = pair
    return result
  }
  return true
}
