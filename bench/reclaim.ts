/**
 * `bench/soak.ts --reclaim`: how much of the server's RSS is memory kept free rather than data.
 * After the regular sample, two steps, each followed by a look at the RSS:
 * 1. V8's last-resort GC, which gives back the empty young generation and free heap pages;
 * 2. glibc: gdb stops the server for a second or two and calls `malloc_stats()` (totals over
 *    every arena: bytes taken from the kernel, bytes in use), `malloc_trim(0)` (hand free pages
 *    back to the kernel) and `malloc_stats()` again.
 * What each step takes off the RSS was free memory its allocator kept, not anything the program
 * still holds. Both change what the next round starts from, so the criterion runs go without.
 */
import { execFile } from "node:child_process"
import { procRss, type SoakServer, sleep } from "./soak-processes.ts"

export interface MallocTotals {
  /** bytes glibc got from the kernel (arenas and mmapped blocks) */
  readonly system: number
  /** bytes of those in allocated blocks */
  readonly inUse: number
}

export interface Reclaimed {
  /** after V8's last-resort GC */
  readonly heapUsedAfterGc: number
  readonly rssAfterGc: number
  /** glibc's totals before and after malloc_trim(0), and the RSS after it (undefined without gdb) */
  readonly mallocBefore: MallocTotals | undefined
  readonly mallocAfter: MallocTotals | undefined
  readonly rssAfterTrim: number | undefined
}

const gdb = (pid: number, commands: ReadonlyArray<string>): Promise<boolean> =>
  new Promise((resolve) => {
    execFile(
      "gdb",
      ["-p", String(pid), "-batch", ...commands.flatMap((c) => ["-ex", c])],
      { timeout: 60_000 },
      (error) => resolve(!error)
    )
  })

/** The last `count` "Total (incl. mmap)" blocks malloc_stats() printed. */
const totalsIn = (text: string, count: number): Array<MallocTotals | undefined> => {
  const blocks = [
    ...text.matchAll(/Total \(incl\. mmap\):\s*system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)/g)
  ]
  const last = blocks.slice(-count).map((m) => ({ system: Number(m[1]), inUse: Number(m[2]) }))
  return Array.from({ length: count }, (_, i) => last[i - (count - last.length)])
}

export const reclaim = async (server: SoakServer): Promise<Reclaimed> => {
  const v8 = await server.lastResortGc()
  const pid = server.process.pid
  const trimmed =
    pid !== undefined &&
    (await gdb(pid, [
      "call (void) malloc_stats()",
      "call (int) malloc_trim(0)",
      "call (void) malloc_stats()"
    ]))
  const rssAfterTrim = trimmed ? procRss(pid) : undefined
  // malloc_stats() writes to the server's stderr, which reaches us through a pipe
  if (trimmed) await sleep(200)
  const [mallocBefore, mallocAfter] = trimmed ? totalsIn(server.stderrTail, 2) : [undefined, undefined]
  return { heapUsedAfterGc: v8.heapUsed, rssAfterGc: v8.rss, mallocBefore, mallocAfter, rssAfterTrim }
}
