import { createServer } from "node:net"
import { Effect, Exit, Layer, Logger, Scope } from "effect"
import { PrismConfig, type PrismConfigShape } from "../../src/config.ts"
import { Buggify } from "../../src/fault/buggify.ts"
import { Authorizer } from "../../src/http/authorizer.ts"
import { PrismServer } from "../../src/server.ts"

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })

export interface RunningServer {
  readonly baseUrl: string
  readonly internalUrl: string
  readonly close: () => Promise<void>
}

export interface ServerHooks {
  /** Where the server's log lines go (nowhere by default). */
  readonly logger?: Logger.Logger<unknown, void>
  /** Injected faults (off by default, as in production). */
  readonly buggify?: Buggify
}

/** Starts the real server (werift transport, real sockets) in this process on free ports. */
export const startServer = async (
  overrides: Partial<PrismConfigShape> = {},
  authorizer: Layer.Layer<Authorizer> = Authorizer.allowAll,
  hooks: ServerHooks = {}
): Promise<RunningServer> => {
  const httpPort = await freePort()
  const internalPort = await freePort()
  const layer = PrismServer.pipe(
    Layer.provide(authorizer),
    Layer.provide(PrismConfig.layerWith({ httpHost: "127.0.0.1", httpPort, internalPort, ...overrides })),
    Layer.provide(Logger.layer(hooks.logger ? [hooks.logger] : [])),
    Layer.provide(hooks.buggify ? Layer.succeed(Buggify, hooks.buggify) : Layer.empty)
  )
  const scope = Effect.runSync(Scope.make())
  await Effect.runPromise(Layer.buildWithScope(layer, scope))
  return {
    baseUrl: `http://127.0.0.1:${httpPort}`,
    internalUrl: `http://127.0.0.1:${internalPort}`,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
