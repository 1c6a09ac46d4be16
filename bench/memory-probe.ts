/**
 * Memory figures of the benchmarked server, taken inside it on request over the IPC channel
 * (installed by `bench/server-preload.ts`, asked for by `bench/soak.ts`): a full GC first, so
 * the heap holds only what is still reachable, then V8's and the kernel's view of the process.
 * On request also a last-resort GC, and a heap snapshot for `bench/heap-diff.ts`.
 */
import { readdirSync, readFileSync } from "node:fs"
import { getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from "node:v8"

export type MemoryProbeRequest =
  | { readonly type: "memory-probe"; readonly id: number }
  | { readonly type: "last-resort-gc"; readonly id: number }
  | { readonly type: "heap-snapshot"; readonly id: number; readonly file: string }

export type MemoryProbeReply =
  | { readonly type: "memory-probe"; readonly id: number; readonly sample: MemorySample }
  | { readonly type: "last-resort-gc"; readonly id: number; readonly heapUsed: number; readonly rss: number }
  | { readonly type: "heap-snapshot"; readonly id: number; readonly file: string; readonly ms: number }

export interface MemorySample {
  /** process.memoryUsage() after the GC, bytes */
  readonly rss: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
  readonly arrayBuffers: number
  /** V8: memory it got from malloc outside the JS heap (compiler and parser zones, ...) now and at its peak, bytes */
  readonly mallocedMemory: number
  readonly peakMallocedMemory: number
  /** V8: resident memory of the whole JS heap, and each space's used / resident bytes */
  readonly heapPhysical: number
  readonly spaces: Readonly<Record<string, { readonly used: number; readonly physical: number }>>
  /** /proc/self/status: resident anonymous and file-backed memory, bytes */
  readonly rssAnon: number | undefined
  readonly rssFile: number | undefined
  /** where the anonymous resident memory lives, from /proc/self/smaps */
  readonly anonymous: AnonymousMemory | undefined
  readonly fds: number
  /** active libuv resources by kind (UDPWrap = UDP sockets, Timeout = timers, TCPSocketWrap, ...) */
  readonly resources: Readonly<Record<string, number>>
  /** how long the two forced GCs took, ms */
  readonly gcMs: number
}

/**
 * Resident anonymous memory by kind of mapping, bytes. glibc's main arena is `[heap]`; its
 * other arenas (one per thread that ever called malloc, up to 8 per core) are 64 MB regions
 * aligned to 64 MB; what is left is mostly V8's heap pages and large (mmapped) malloc blocks.
 */
export interface AnonymousMemory {
  readonly mainArena: number
  readonly threadArenas: number
  readonly threadArenaCount: number
  readonly other: number
}

const ARENA_SIZE = 64n * 1024n * 1024n

const anonymousMemory = (): AnonymousMemory | undefined => {
  let text: string
  try {
    text = readFileSync("/proc/self/smaps", "utf8")
  } catch {
    return undefined
  }
  const totals = { mainArena: 0, threadArenas: 0, threadArenaCount: 0, other: 0 }
  let kind: keyof typeof totals | undefined
  for (const line of text.split("\n")) {
    const mapping = /^([0-9a-f]+)-[0-9a-f]+ (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line)
    if (mapping) {
      const [, start, permissions, inode, name] = mapping
      if (name === "[heap]") kind = "mainArena"
      else if (inode !== "0" || name !== "") kind = undefined
      else if (permissions === "rw-p" && BigInt(`0x${start}`) % ARENA_SIZE === 0n) {
        kind = "threadArenas"
        totals.threadArenaCount++
      } else kind = "other"
      continue
    }
    if (kind && line.startsWith("Rss:")) totals[kind] += Number(line.split(/\s+/)[1]) * 1024
  }
  return totals
}

type GcOptions = { type: "major"; execution: "sync"; flavor: "regular" | "last-resort" }
const gc = (globalThis as { gc?: (options?: GcOptions) => void }).gc

const statusKilobytes = (field: string): number | undefined => {
  try {
    const line = readFileSync("/proc/self/status", "utf8")
      .split("\n")
      .find((l) => l.startsWith(`${field}:`))
    return line ? Number(line.split(/\s+/)[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

const countBy = (items: ReadonlyArray<string>): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1
  return counts
}

const fullGc = async (): Promise<number> => {
  const started = performance.now()
  gc?.()
  // weak callbacks and FinalizationRegistry cleanups run between the two
  await new Promise((resolve) => setImmediate(resolve))
  gc?.()
  return performance.now() - started
}

/**
 * The GC V8 runs before giving up on memory: it also drops compiled code and caches a normal
 * full GC keeps, and gives back the empty young generation and free pages. Perturbs what comes
 * after it (the young generation has to grow again), so only `--reclaim` asks for it.
 */
const lastResortGc = () => {
  gc?.({ type: "major", execution: "sync", flavor: "last-resort" })
  return process.memoryUsage()
}

export const sampleMemory = async (): Promise<MemorySample> => {
  const gcMs = await fullGc()
  const usage = process.memoryUsage()
  const heap = getHeapStatistics()
  const spaces: Record<string, { used: number; physical: number }> = {}
  for (const space of getHeapSpaceStatistics()) {
    spaces[space.space_name] = { used: space.space_used_size, physical: space.physical_space_size }
  }
  return {
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    mallocedMemory: heap.malloced_memory,
    peakMallocedMemory: heap.peak_malloced_memory,
    heapPhysical: heap.total_physical_size,
    spaces,
    rssAnon: statusKilobytes("RssAnon"),
    rssFile: statusKilobytes("RssFile"),
    anonymous: anonymousMemory(),
    fds: readdirSync("/proc/self/fd").length,
    resources: countBy(process.getActiveResourcesInfo()),
    gcMs
  }
}

/** Answers probe requests arriving on the IPC channel (no-op without one). */
export const installMemoryProbe = (): void => {
  if (!process.send) return
  process.on("message", (message: MemoryProbeRequest) => {
    const reply = (answer: MemoryProbeReply) => process.send?.(answer)
    if (message?.type === "memory-probe") {
      void sampleMemory().then((sample) => reply({ type: "memory-probe", id: message.id, sample }))
    } else if (message?.type === "last-resort-gc") {
      const { heapUsed, rss } = lastResortGc()
      reply({ type: "last-resort-gc", id: message.id, heapUsed, rss })
    } else if (message?.type === "heap-snapshot") {
      void fullGc().then(() => {
        const started = performance.now()
        const file = writeHeapSnapshot(message.file)
        reply({ type: "heap-snapshot", id: message.id, file, ms: performance.now() - started })
      })
    }
  })
}
