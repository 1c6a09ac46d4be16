import { monitorEventLoopDelay } from "node:perf_hooks"
import { getHeapSpaceStatistics } from "node:v8"
import { Effect, Layer, Metric, Schedule } from "effect"

const cpuSeconds = Metric.gauge("process_cpu_seconds_total", {
  description: "User and system CPU time spent"
})
const residentMemory = Metric.gauge("process_resident_memory_bytes", { description: "Resident memory size" })
const heapUsed = Metric.gauge("nodejs_heap_size_used_bytes", { description: "V8 heap in use" })
const heapTotal = Metric.gauge("nodejs_heap_size_total_bytes", {
  description: "V8 heap committed, in use or not"
})
const heapSpaceTotal = Metric.gauge("nodejs_heap_space_size_total_bytes", {
  description: "V8 heap committed per space (new_space, the young generation, grows under load)"
})
const externalMemory = Metric.gauge("nodejs_external_memory_bytes", {
  description: "Memory outside the V8 heap owned by JS objects (Buffers' backing stores)"
})
const eventLoopDelayP99 = Metric.gauge("nodejs_eventloop_delay_p99_seconds", {
  description: "99th percentile event-loop delay over the last interval"
})
const eventLoopDelayMax = Metric.gauge("nodejs_eventloop_delay_max_seconds", {
  description: "Largest event-loop delay over the last interval"
})

/** Process health sampled every second: CPU, memory (V8 heap used and committed, per space) and event-loop delay. */
export const ProcessMetricsLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const histogram = monitorEventLoopDelay({ resolution: 10 })
    yield* Effect.acquireRelease(
      Effect.sync(() => histogram.enable()),
      () => Effect.sync(() => histogram.disable())
    )
    const sample = Effect.gen(function* () {
      const cpu = process.cpuUsage()
      const memory = process.memoryUsage()
      yield* Metric.update(cpuSeconds, (cpu.user + cpu.system) / 1e6)
      yield* Metric.update(residentMemory, memory.rss)
      yield* Metric.update(heapUsed, memory.heapUsed)
      yield* Metric.update(heapTotal, memory.heapTotal)
      yield* Metric.update(externalMemory, memory.external)
      for (const space of getHeapSpaceStatistics()) {
        yield* Metric.update(
          Metric.withAttributes(heapSpaceTotal, { space: space.space_name }),
          space.space_size
        )
      }
      yield* Metric.update(eventLoopDelayP99, histogram.percentile(99) / 1e9)
      yield* Metric.update(eventLoopDelayMax, histogram.max / 1e9)
      histogram.reset()
    })
    yield* sample.pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.forkScoped)
  })
)
