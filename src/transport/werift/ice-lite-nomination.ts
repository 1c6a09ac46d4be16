import {
  Candidate,
  type Protocol,
  type RTCPeerConnection,
  CandidatePair as WeriftCandidatePair
} from "werift"

/**
 * Which candidate pair an ICE-lite server sends on: the one the client nominated last, in the
 * current ICE generation, or, until the client nominates one there, the one it nominated last
 * in an earlier generation.
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
 *
 * Until then, that kept pair follows the client's nominations made with earlier credentials:
 * a client that stayed on its old pair (or went back to an older one) may move, or its NAT
 * may give it a new address, and its checks then come from there with the old ufrag. The
 * server would otherwise keep sending to an address nobody listens on any more, while the
 * client, whose checks are all answered, has no reason to restart again.
 */

type Address = readonly [string, number]

interface CandidatePair {
  readonly protocol: unknown
  readonly remoteAddr: Address
  nominated: boolean
}

interface StunRequest {
  readonly attributesKeys: ReadonlyArray<string>
  getAttributeValue(name: string): unknown
}

interface LiteConnection {
  readonly iceLite: boolean
  readonly localUsername: string
  nominated: CandidatePair | undefined
  readonly checkList: ReadonlyArray<CandidatePair>
  checkIncoming: (message: StunRequest, addr: Address, protocol: unknown) => unknown
  restart: () => unknown
  readonly protocols: ReadonlyArray<{ readonly localCandidate?: object }>
}

/** The server's ICE agent (max-bundle: one per peer connection), if werift still has the shape relied on. */
const liteConnectionOf = (pc: RTCPeerConnection): LiteConnection | undefined => {
  const connection = pc.dtlsTransports[0]?.iceTransport.connection as unknown as
    | Partial<LiteConnection>
    | undefined
  if (!connection?.iceLite || typeof connection.checkIncoming !== "function") return undefined
  if (typeof connection.restart !== "function") return undefined
  if (!Array.isArray(connection.checkList) || typeof connection.localUsername !== "string") return undefined
  if (!Array.isArray(connection.protocols)) return undefined
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
    if (checkedUfrag(message) !== connection.localUsername) {
      followEarlierGeneration(connection, message, addr, protocol)
      return undefined
    }
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
    for (const { localCandidate } of connection.protocols)
      if (localCandidate) withoutGeneration(localCandidate)
    return result
  }
  return true
}

/**
 * A nomination made with the credentials of an earlier generation moves the pair kept across
 * the restart, as long as no pair of the current generation is selected. The pair is made
 * apart from the current check list (it belongs to no current check), as werift makes one
 * for a peer-reflexive address.
 */
const followEarlierGeneration = (
  connection: LiteConnection,
  message: StunRequest,
  addr: Address,
  protocol: unknown
) => {
  const kept = connection.nominated
  if (kept === undefined || selectedInCurrentGeneration(connection)) return
  if (!message.attributesKeys.includes("USE-CANDIDATE")) return
  if (kept.protocol === protocol && sameAddress(kept.remoteAddr, addr)) return
  const priority = message.getAttributeValue("PRIORITY")
  const remote = new Candidate(
    `kept${addr[1]}`,
    1,
    "udp",
    typeof priority === "number" ? priority : 0,
    addr[0],
    addr[1],
    "prflx"
  )
  const pair = new WeriftCandidatePair(protocol as Protocol, remote, false)
  pair.nominated = true
  connection.nominated = pair
}

/**
 * werift writes its agent's restart count into its candidates ("generation N"), and a werift
 * client takes a nomination only if the remote candidate's generation equals its own count.
 * The counts part as soon as the server answers a restart the client does not follow through
 * (it stays on its old pair, or the answer is lost and it sends another offer): that client
 * never selects a pair again after its next restart. The ufrag already tells which generation
 * a candidate belongs to (libwebrtc goes by it), so restart answers carry no generation.
 */
const withoutGeneration = (candidate: object) => {
  Object.defineProperty(candidate, "generation", {
    get: () => undefined,
    set: () => undefined,
    configurable: true
  })
}
