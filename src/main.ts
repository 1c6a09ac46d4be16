import { NodeRuntime } from "@effect/platform-node"
import { Cause, ConfigProvider, Exit, Layer } from "effect"
import { flagsConfigProvider } from "./config.ts"
import { PrismServerLive } from "./server.ts"

// SIGTERM/SIGINT interrupt the program; a clean interrupt after closing every peer is exit 0.
NodeRuntime.runMain(
  Layer.launch(
    PrismServerLive.pipe(Layer.provide(ConfigProvider.layer(flagsConfigProvider(process.argv.slice(2)))))
  ),
  {
    teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)
  }
)
