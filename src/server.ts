import { Effect, Layer } from "effect"
import { PrismConfig } from "./config.ts"
import { Authorizer } from "./http/authorizer.ts"
import { PublicServerLive } from "./http/public-server.ts"
import { InternalServerLive } from "./observability/internal-server.ts"
import { LoggingLive } from "./observability/logging.ts"
import { Counters } from "./observability/media-counters.ts"
import { RoomRegistry } from "./room/room-registry.ts"
import { WeriftTransport } from "./transport/werift/werift-transport.ts"

export { PrismConfig } from "./config.ts"
export { type AuthorizationRequest, Authorizer, Forbidden, Unauthorized } from "./http/authorizer.ts"
export { RoomRegistry } from "./room/room-registry.ts"
export { Transport } from "./transport/transport.ts"

/** Rooms and media over the production transport; needs PrismConfig. */
export const SfuCore = RoomRegistry.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(WeriftTransport, Counters.layer))
)

const Started = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* PrismConfig
    yield* Effect.logInfo("Prism is listening").pipe(
      Effect.annotateLogs({
        api: `http://localhost:${config.httpPort}`,
        internal: `http://localhost:${config.internalPort}/metrics`,
        announcedIp: config.announcedIp,
        udpPorts: `${config.udpPortMin}-${config.udpPortMax}`
      })
    )
  })
)

/**
 * The whole server: the public signaling API, the internal metrics port and the SFU
 * core. It needs a `PrismConfig` and an `Authorizer`; provide your own of either (and a
 * Logger layer) to embed Prism in your program.
 */
export const PrismServer = Layer.mergeAll(PublicServerLive, InternalServerLive).pipe(
  Layer.provideMerge(SfuCore),
  Layer.provideMerge(Started)
)

/** `PrismServer` with the defaults `npm start` uses: config from env, everyone allowed, logs per LOG_FORMAT. */
export const PrismServerLive = PrismServer.pipe(
  Layer.provide(LoggingLive),
  Layer.provide(Authorizer.allowAll),
  Layer.provide(PrismConfig.layer)
)
