import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { PrismConfig } from "../config.ts"
import { LayerOverrideRoutes } from "../http/layer-override-routes.ts"
import { ProcessMetricsLive } from "./process-metrics.ts"

const InternalRoutes = Layer.mergeAll(
  PrometheusMetrics.layerHttp({ path: "/metrics" }),
  HttpRouter.add("GET", "/healthz", HttpServerResponse.text("ok")),
  LayerOverrideRoutes
)

/** `/metrics` (Prometheus), `/healthz` and the layer override hook on the internal port, apart from the public API. */
export const InternalServerLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* PrismConfig
    return HttpRouter.serve(InternalRoutes, { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provide(NodeHttpServer.layer(createServer, { port: config.internalPort, host: config.httpHost })),
      Layer.merge(ProcessMetricsLive)
    )
  })
)
