import { Config, Effect, Layer, Logger, References } from "effect"
import { PrismConfig } from "../config.ts"

/** JSON lines in production (`LOG_FORMAT=json`), readable lines in a terminal; level from `LOG_LEVEL`. */
export const LoggingLive = Layer.unwrap(
  Effect.gen(function* () {
    const { logFormat } = yield* PrismConfig
    const level = yield* Config.LogLevel("LOG_LEVEL").pipe(Config.withDefault("Info" as const))
    return Layer.mergeAll(
      Logger.layer([logFormat === "json" ? Logger.consoleJson : Logger.consolePretty()]),
      Layer.succeed(References.MinimumLogLevel, level)
    )
  })
)
