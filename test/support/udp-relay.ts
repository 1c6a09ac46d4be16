import { createSocket, type Socket } from "node:dgram"
import { ArrivalLog } from "./arrival-log.ts"

/**
 * A userspace UDP relay on loopback between a client and the server, a NAT of sorts, to
 * change the client's address as the server sees it (a network change: new address and
 * port, the old one gone). The client talks to the relay's one fixed socket (the server's
 * candidate in each answer is rewritten to it); the relay forwards each client socket's
 * traffic from a socket of its own, and `changeNetwork` replaces those with fresh ones,
 * closing the old, so the server's packets to the old addresses go nowhere. It also notes
 * when the server's RTP of a payload type reached the client (`rtpToClient`).
 */
export class UdpRelay {
  /** The relay's server-side socket for each client address. */
  private readonly mappings = new Map<string, Socket>()
  private server: { readonly host: string; readonly port: number } | undefined
  private closed = false
  private readonly rtpLogs = new Map<number, ArrivalLog>()

  private constructor(private readonly front: Socket) {
    front.on("message", (data, from) => {
      if (!this.server) return
      this.mappingFor(from.address, from.port).send(data, this.server.port, this.server.host)
    })
  }

  static async open(): Promise<UdpRelay> {
    const front = createSocket("udp4")
    await new Promise<void>((resolve, reject) => {
      front.once("error", reject)
      front.bind(0, "127.0.0.1", () => {
        front.off("error", reject)
        resolve()
      })
    })
    return new UdpRelay(front)
  }

  /** The port the client reaches the server at (on 127.0.0.1). */
  get port(): number {
    return this.front.address().port
  }

  /** The answer with the server's host candidate replaced by the relay's; the relay forwards there. */
  readonly rewriteAnswer = (answer: string): string =>
    answer.replace(
      /^(a=candidate:\S+ \d+ udp \d+ )(\S+) (\d+)( typ host)/gm,
      (_, head: string, host: string, port: string, tail: string) => {
        this.server = { host, port: Number(port) }
        return `${head}127.0.0.1 ${this.port}${tail}`
      }
    )

  /** Arrival times of the server's RTP packets of `payloadType` forwarded to the client (SRTP leaves the header clear). */
  rtpToClient(payloadType: number): ArrivalLog {
    let log = this.rtpLogs.get(payloadType)
    if (!log) {
      log = new ArrivalLog()
      this.rtpLogs.set(payloadType, log)
    }
    return log
  }

  /** Gives every client socket a new server-side address and closes the old ones. */
  changeNetwork(): void {
    const old = [...this.mappings.entries()]
    this.mappings.clear()
    for (const [client, socket] of old) {
      const [address, port] = splitKey(client)
      this.mappingFor(address, port)
      socket.close()
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.front.close()
    for (const socket of this.mappings.values()) socket.close()
    this.mappings.clear()
  }

  private mappingFor(address: string, port: number): Socket {
    const key = `${address}|${port}`
    const existing = this.mappings.get(key)
    if (existing) return existing
    const fresh = createSocket("udp4")
    fresh.on("error", () => undefined)
    fresh.on("message", (data) => {
      if (this.mappings.get(key) !== fresh) return
      this.front.send(data, port, address)
      // RFC 7983 and 5761: RTP is 128-191 in the first byte, with a payload type outside RTCP's 64-95.
      if (data.length >= 12 && data[0]! >> 6 === 2) this.rtpLogs.get(data[1]! & 0x7f)?.note()
    })
    // Sends made before the bind completes are queued by Node.
    fresh.bind(0, "127.0.0.1")
    this.mappings.set(key, fresh)
    return fresh
  }
}

const splitKey = (key: string): [string, number] => {
  const [address, port] = key.split("|")
  return [address!, Number(port)]
}
