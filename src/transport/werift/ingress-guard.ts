import { Connection, classes, parseMessage, StunProtocol } from "werift"

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
 */

const OWNER = Symbol.for("prism.ingress-guard.owner")
const PEERS = Symbol.for("prism.ingress-guard.peers")
const INSTALLED = Symbol.for("prism.ingress-guard")

interface GuardedConnection {
  readonly iceLite: boolean
  readonly localPassword: string
  readonly userHistory: Record<string, string | undefined>
  [PEERS]?: Set<string>
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

const authenticRequest = (connection: GuardedConnection, data: Buffer): boolean | undefined => {
  const message = parseMessage(data)
  if (!message) return false
  if (message.messageClass !== classes.REQUEST) return undefined
  const username = message.getAttributeValue("USERNAME") as string | undefined
  const localUfrag = username?.split(":")[0]
  if (!localUfrag) return false
  const password = connection.userHistory[localUfrag] ?? connection.localPassword
  return parseMessage(data, Buffer.from(password, "utf8")) !== undefined
}

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
        peers = new Set()
        connection[PEERS] = peers
      }
      if (isStun(data)) {
        const authentic = authenticRequest(connection, data)
        if (authentic === false) {
          dropped++
          return
        }
        if (authentic) peers.add(key(addr))
      } else if (!peers.has(key(addr))) {
        dropped++
        return
      }
    }
    return datagramReceived.call(this, data, addr)
  }
  stun[INSTALLED] = true
}
