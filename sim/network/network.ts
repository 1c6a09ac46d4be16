import type { Trace } from "../engine/trace.ts"
import type { World } from "../engine/world.ts"
import type { Link } from "./link.ts"
import { type DownPacket, describePacket, type UpPacket } from "./packets.ts"

/** The server's end of one simulated connection. */
export interface ServerEndpoint {
  readonly receive: (packet: UpPacket) => void
}

/** A simulated client as the server's transport sees it: whom to send to. */
export interface ClientEndpoint {
  readonly name: string
  readonly room: string
  readonly sendDown: (packet: DownPacket) => void
}

/**
 * Routing between clients and the server. Connections are told apart the way ICE tells
 * them apart, by the username fragment the client put in its offer; packets for a
 * fragment the server no longer knows are dropped, as a real server drops them.
 */
export class Network {
  private readonly servers = new Map<string, ServerEndpoint>()
  private readonly credentials = new Map<string, ClientEndpoint>()
  private readonly links: Array<Link<UpPacket> | Link<DownPacket>> = []

  constructor(
    readonly world: World,
    readonly trace: Trace
  ) {}

  addLinks(...links: Array<Link<UpPacket> | Link<DownPacket>>): void {
    this.links.push(...links)
  }

  /** The least delay any link can add: the world never sleeps past it. */
  horizon(): number {
    let min = Number.POSITIVE_INFINITY
    for (const link of this.links) min = Math.min(min, link.minDelayMs)
    return Number.isFinite(min) ? min : 1000
  }

  /** A client announces the ICE credentials it is about to offer. */
  claim(ufrag: string, client: ClientEndpoint): void {
    this.credentials.set(ufrag, client)
  }

  clientFor(ufrag: string): ClientEndpoint | undefined {
    return this.credentials.get(ufrag)
  }

  bind(ufrag: string, server: ServerEndpoint): void {
    this.servers.set(ufrag, server)
  }

  unbind(ufrag: string, server: ServerEndpoint): void {
    if (this.servers.get(ufrag) === server) this.servers.delete(ufrag)
  }

  /** Told about packets that arrive for a connection the server does not know (any more). */
  onUnroutable: (packet: UpPacket) => void = () => undefined

  toServer(packet: UpPacket): void {
    const server = this.servers.get(packet.conn)
    if (!server) {
      this.trace.record(`server unknown-conn ${describePacket(packet)}`)
      this.onUnroutable(packet)
      return
    }
    server.receive(packet)
  }
}
