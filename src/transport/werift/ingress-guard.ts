import { Connection, classes, parseMessage, StunProtocol } from "werift"
import { selectedInCurrentGeneration } from "./ice-lite-nomination.ts"

/**
 * werift hands every non-STUN datagram that reaches a peer connection's port to DTLS and
 * SRTP, whatever address it came from, and accepts connectivity checks without verifying
 * MESSAGE-INTEGRITY. A single forged datagram could then close a session (an unauthenticated
 * DTLS alert ends it) or steer it. This guard, installed once on the werift module the app
 * imports, lets through only:
 * - STUN requests whose MESSAGE-INTEGRITY verifies with the connection's ICE password, and
 * - other packets (DTLS, RTP, RTCP) from an address that sent such a request.
 * STUN responses and indications pass (werift matches responses to its own transactions).
 * Only ICE-lite (server) connections are guarded.
 *
 * An ICE restart brings new credentials (werift keeps every generation's password, so checks
 * of the old generation still verify while the client moves). Until a pair of the new
 * generation is nominated, addresses proven in earlier generations keep their access, so the
 * client's media on the old pair goes on; from then on only addresses that sent a check with
 * the current credentials do.
 */

const OWNER = Symbol.for("prism.ingress-guard.owner")
const PEERS = Symbol.for("prism.ingress-guard.peers")
const INSTALLED = Symbol.for("prism.ingress-guard")

interface GuardedConnection {
  readonly iceLite: boolean
  readonly localUsername: string
  readonly localPassword: string
  readonly userHistory: Record<string, string | undefined>
  readonly nominated: unknown
  readonly checkList: ReadonlyArray<unknown>
  /** Each proven address, with the ufrag of the newest generation it sent a check for. */
  [PEERS]?: Map<string, string>
}

interface GuardedProtocol {
  [OWNER]?: GuardedConnection
}

type Address = readonly [string, number]

let dropped = 0

/** Datagrams the guard refused since start-up. */
export const ingressDropped = (): number => dropped

const key = (addr: Address) => `${addr[0]}:${addr[1]}`

/** RFC 7983: a first byte of 0-3 is STUN. */
const isStun = (data: Buffer) => data.length > 0 && data[0]! < 4

/**
 * For a request, the server ufrag it was sent to if its MESSAGE-INTEGRITY verifies, else
 * false; undefined for STUN that is not a request.
 */
const authenticRequest = (connection: GuardedConnection, data: Buffer): string | false | undefined => {
  const message = parseMessage(data)
  if (!message) return false
  if (message.messageClass !== classes.REQUEST) return undefined
  const username = message.getAttributeValue("USERNAME") as string | undefined
  const localUfrag = username?.split(":")[0]
  if (!localUfrag) return false
  const password = connection.userHistory[localUfrag] ?? connection.localPassword
  return parseMessage(data, Buffer.from(password, "utf8")) !== undefined ? localUfrag : false
}

/** Whether non-STUN traffic from an address proven with `ufrag` may reach werift now. */
const admitted = (connection: GuardedConnection, ufrag: string | undefined): boolean =>
  ufrag !== undefined && (ufrag === connection.localUsername || !selectedInCurrentGeneration(connection))

export const installIngressGuard = (): void => {
  const stun = StunProtocol.prototype as unknown as Record<symbol | string, unknown>
  if (stun[INSTALLED]) return
  const ensureProtocol = (Connection.prototype as unknown as Record<string, unknown>)["ensureProtocol"]
  const datagramReceived = stun["datagramReceived"]
  if (typeof ensureProtocol !== "function" || typeof datagramReceived !== "function") {
    throw new Error("werift changed: Connection.ensureProtocol or StunProtocol.datagramReceived is gone")
  }
  ;(Connection.prototype as unknown as Record<string, unknown>)["ensureProtocol"] = function (
    this: GuardedConnection,
    protocol: GuardedProtocol,
    ...rest: unknown[]
  ) {
    // Only the server's side: an ICE-lite agent never sends checks, so its peers are exactly
    // the addresses that sent it authentic ones. (Test clients share this werift module.)
    if (this.iceLite) protocol[OWNER] = this
    return ensureProtocol.call(this, protocol, ...rest)
  }
  stun["datagramReceived"] = function (this: GuardedProtocol, data: Buffer, addr: Address) {
    const connection = this[OWNER]
    if (connection) {
      let peers = connection[PEERS]
      if (!peers) {
        peers = new Map()
        connection[PEERS] = peers
      }
      if (isStun(data)) {
        const ufrag = authenticRequest(connection, data)
        if (ufrag === false) {
          dropped++
          return
        }
        const address = key(addr)
        // A late check of an earlier generation does not take back a newer proof.
        if (ufrag !== undefined && (ufrag === connection.localUsername || !peers.has(address))) {
          peers.set(address, ufrag)
        }
      } else if (!admitted(connection, peers.get(key(addr)))) {
        dropped++
        return
      }
    }
    return datagramReceived.call(this, data, addr)
  }
  stun[INSTALLED] = true
}
