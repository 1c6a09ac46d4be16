import { setFlagsFromString } from "node:v8"
import { NodeRuntime } from "@effect/platform-node"
import { Cause, ConfigProvider, Exit, Layer } from "effect"
import { flagsConfigProvider } from "./config.ts"
import { PrismServerLive } from "./server.ts"

// Forwarding allocates fast and keeps ~0.5 s of packets for NACKs; with V8's default heap
// growth that meant a full GC every few hundred ms (docs/benchmarks.md). Growing the old
// generation faster removes them.
setFlagsFromString("--heap-growing-percent=200")

// SIGTERM/SIGINT interrupt the program; a clean interrupt after closing every peer is exit 0.
NodeRuntime.runMain(
  Layer.launch(
    PrismServerLive.pipe(Layer.provide(ConfigProvider.layer(flagsConfigProvider(process.argv.slice(2)))))
  ),
  {
    teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)
  }
)
