/**
 * Preloaded into the benchmarked server only (`node --expose-gc --import ./bench/server-preload.ts`);
 * nothing else in the server changes.
 *
 * - SIGUSR2 runs a full garbage collection, so run.ts can sample heap and RSS without the
 *   garbage the joins left behind.
 * - When run.ts goes away (even by SIGKILL) its IPC channel closes and the server gets
 *   SIGTERM, so no orphaned server keeps its ports.
 * - Over that channel, `bench/memory-probe.ts` answers memory samples and writes heap
 *   snapshots on request (the churn soak, `bench/soak.ts`).
 * - With BENCH_ALLOC_PROFILE=<file>, SIGWINCH starts V8's sampling heap profiler (keeping
 *   objects the GC has already collected, so it shows allocation, not retention) and the
 *   next SIGWINCH writes the profile to <file> (`npm run bench -- --alloc-profile`).
 */
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector"
import { installMemoryProbe } from "./memory-probe.ts"

const gc = (globalThis as { gc?: () => void }).gc
if (typeof gc === "function") process.on("SIGUSR2", () => gc())

if (process.channel) {
  process.on("disconnect", () => process.kill(process.pid, "SIGTERM"))
  installMemoryProbe()
  process.channel.unref()
}

const allocationProfile = process.env["BENCH_ALLOC_PROFILE"]
if (allocationProfile) {
  let session: Session | undefined
  process.on("SIGWINCH", () => {
    if (!session) {
      session = new Session()
      session.connect()
      session.post("HeapProfiler.enable")
      session.post("HeapProfiler.startSampling", {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true
      })
      return
    }
    const current = session
    current.post("HeapProfiler.stopSampling", (error, result) => {
      if (!error) writeFileSync(allocationProfile, JSON.stringify(result.profile))
      current.disconnect()
    })
  })
}
