import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { PrismConfig } from "../config.ts"
import { SignalingRoutes } from "./signaling-routes.ts"

const PublicRoutes = Layer.mergeAll(
  SignalingRoutes,
  HttpRouter.cors({
    allowedOrigins: ["*"],
    allowedMethods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
    allowedHeaders: ["Authorization", "Content-Type", "If-Match", "Accept"],
    exposedHeaders: ["Location", "ETag", "Accept-Post"],
    maxAge: 86400
  })
)

/** The signaling API on the public HTTP port. */
export const PublicServerLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* PrismConfig
    return HttpRouter.serve(PublicRoutes, { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provide(NodeHttpServer.layer(createServer, { port: config.httpPort, host: config.httpHost }))
    )
  })
)
