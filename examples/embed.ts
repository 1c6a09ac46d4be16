import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Logger } from "effect"
import { Authorizer, PrismConfig, PrismServer, Unauthorized } from "../src/server.ts"

// Only requests that carry the shared token may join, reconnect, leave or read rooms.
const TokenAuthorizer = Layer.succeed(Authorizer, {
  authorize: (request) =>
    request.headers["authorization"] === `Bearer ${process.env["PRISM_TOKEN"]}`
      ? Effect.void
      : Effect.fail(new Unauthorized({ message: "a valid bearer token is required" }))
})

const App = PrismServer.pipe(
  Layer.provide([TokenAuthorizer, PrismConfig.layer, Logger.layer([Logger.consoleJson])])
)

NodeRuntime.runMain(Layer.launch(App))
