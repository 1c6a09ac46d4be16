import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { PrismConfig } from "../config.ts"
import { DemoRoutes } from "./demo-routes.ts"
import { SignalingRoutes } from "./signaling-routes.ts"

const PublicRoutes = Layer.mergeAll(
  SignalingRoutes,
  DemoRoutes,
  HttpRouter.cors({
    allowedOrigins: ["*"],
    allowedMethods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
    allowedHeaders: ["Authorization", "Content-Type", "If-Match", "Accept"],
    exposedHeaders: ["Location", "ETag", "Accept-Post", "Retry-After"],
    maxAge: 86400
  })
)

/** The signaling API and the demo page on the public HTTP port. */
export const PublicServerLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* PrismConfig
    return HttpRouter.serve(PublicRoutes, { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provide(NodeHttpServer.layer(createServer, { port: config.httpPort, host: config.httpHost }))
    )
  })
)
