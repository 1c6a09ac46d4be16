/** The churn soak's results (`bench/soak.ts`) and their Markdown report, criterion included. */
import type { MemorySample } from "./memory-probe.ts"
import type { Reclaimed } from "./reclaim.ts"
import type { ChurnTally, SteadyPeriod } from "./soak-protocol.ts"

export interface Gauges {
  readonly rooms: number
  readonly participants: number
  readonly publications: number
}

/** The server while the churners come and go. */
export interface ChurnWatch {
  readonly peakRss: number
  readonly peakHeapTotal: number
  readonly peakExternal: number
  readonly maxEventLoopDelayMs: number
  readonly cpuCorePct: number | undefined
}

export interface RoundResult {
  readonly round: number
  readonly churnSeconds: number
  readonly loadAverage1m: number
  readonly tally: ChurnTally
  /** the gauges once the churners were gone, and how long they took to get back to the steady pair's */
  readonly gaugesAfter: Gauges
  readonly gaugesBackMs: number | undefined
  readonly duringChurn: ChurnWatch
  /** after the round, the churners gone, a full GC */
  readonly memory: MemorySample
  /** what V8 and glibc gave back on request (`--reclaim`) */
  readonly reclaimed: Reclaimed | undefined
  readonly steady: SteadyPeriod
  readonly heapSnapshot: { readonly file: string; readonly ms: number } | undefined
}

export interface Checkpoint {
  readonly gauges: Gauges
  readonly memory: MemorySample
  readonly reclaimed?: Reclaimed | undefined
}

export interface SoakResult {
  readonly date: string
  readonly durationSeconds: number
  readonly command: string
  readonly node: string
  readonly cpus: number
  readonly options: object
  /** the server before anyone joined */
  readonly empty: Checkpoint
  /** the steady pair connected, before the first round */
  readonly beforeChurn: Checkpoint
  readonly rounds: ReadonlyArray<RoundResult>
  /** the steady pair gone too */
  readonly end: Checkpoint
}

/** Rounds after the first must end within this fraction of the first round's heap and RSS. */
export const TOLERANCE = 0.1

const mb = (bytes: number | undefined) => (bytes === undefined ? "n/a" : (bytes / 2 ** 20).toFixed(1))
const pct = (x: number) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}%`
const magnitude = (x: number) => `${(100 * x).toFixed(1)}%`
const codes = (counts: Readonly<Record<string, number>>) =>
  Object.entries(counts)
    .map(([code, n]) => `${code}×${n}`)
    .join(" ") || "none"

export interface Verdict {
  readonly heapMaxDeviation: number
  readonly rssMaxDeviation: number
  readonly heapFlat: boolean
  readonly rssFlat: boolean
}

export const verdict = (rounds: ReadonlyArray<RoundResult>): Verdict | undefined => {
  const first = rounds[0]
  if (!first || rounds.length < 2) return undefined
  const deviation = (pick: (m: MemorySample) => number) =>
    Math.max(...rounds.slice(1).map((r) => Math.abs(pick(r.memory) / pick(first.memory) - 1)))
  const heapMaxDeviation = deviation((m) => m.heapUsed)
  const rssMaxDeviation = deviation((m) => m.rss)
  return {
    heapMaxDeviation,
    rssMaxDeviation,
    heapFlat: heapMaxDeviation <= TOLERANCE,
    rssFlat: rssMaxDeviation <= TOLERANCE
  }
}

/** Resident anonymous memory: glibc's main arena, its thread arenas, V8's heap, and the rest. */
const anonymousColumn = (m: MemorySample) => {
  const a = m.anonymous
  return a
    ? `${mb(a.mainArena)} / ${mb(a.threadArenas)} (${a.threadArenaCount}) / ${mb(m.heapPhysical)} / ` +
        mb(Math.max(0, a.other - m.heapPhysical))
    : `${mb(m.rssAnon)} anon`
}

const reclaimColumn = (r: Reclaimed | undefined) =>
  r === undefined
    ? "n/a"
    : `${mb(r.rssAfterGc)}; ${r.mallocBefore ? `${mb(r.mallocBefore.system)} / ${mb(r.mallocBefore.inUse)}` : "?"}; ` +
      mb(r.rssAfterTrim)

const memoryRow = (
  label: string,
  checkpoint: { readonly memory: MemorySample; readonly reclaimed?: Reclaimed | undefined },
  first: MemorySample | undefined,
  rest: string[]
) => {
  const m = checkpoint.memory
  return [
    label,
    ...rest,
    `${mb(m.heapUsed)}${first ? ` (${pct(m.heapUsed / first.heapUsed - 1)})` : ""}`,
    `${mb(m.rss)}${first ? ` (${pct(m.rss / first.rss - 1)})` : ""}`,
    reclaimColumn(checkpoint.reclaimed),
    `${mb(m.heapTotal)} / ${mb(m.external)}`,
    anonymousColumn(m),
    `${m.fds} / ${m.resources["UDPWrap"] ?? 0} / ${m.resources["Timeout"] ?? 0}`
  ]
}

export const soakReport = (result: SoakResult): string => {
  const header = [
    "after",
    "joins (POST codes)",
    "leaves (DELETE codes)",
    "not connected / errors",
    "steady: frames, max gap ms",
    "during churn: peak RSS / heap committed / external MB; max event-loop stall ms; CPU % core",
    "heap used MB (vs round 1)",
    "RSS MB (vs round 1)",
    "reclaim: RSS after last-resort GC; malloc system / in use; RSS after malloc_trim MB",
    "heap total / external MB",
    "anon RSS: main arena / thread arenas (n) / V8 heap / rest MB",
    "fds / UDP sockets / timers"
  ]
  const first = result.rounds[0]?.memory
  const none = ["", "", "", "", ""]
  const rows = [
    memoryRow("start (empty)", result.empty, undefined, none),
    memoryRow("steady pair joined", result.beforeChurn, undefined, none),
    ...result.rounds.map((r) =>
      memoryRow(`round ${r.round}`, r, r.round === 1 ? undefined : first, [
        `${r.tally.joins} (${codes(r.tally.joinStatuses)})`,
        `${r.tally.leaves} (${codes(r.tally.leaveStatuses)})`,
        `${r.tally.notConnected} / ${Object.values(r.tally.errors).reduce((s, n) => s + n, 0)}`,
        `${r.steady.videoFrames}, ${r.steady.maxFrameGapMs.toFixed(0)}`,
        `${mb(r.duringChurn.peakRss)} / ${mb(r.duringChurn.peakHeapTotal)} / ${mb(r.duringChurn.peakExternal)}; ` +
          `${r.duringChurn.maxEventLoopDelayMs.toFixed(0)}; ` +
          (r.duringChurn.cpuCorePct === undefined ? "n/a" : r.duringChurn.cpuCorePct.toFixed(0))
      ])
    ),
    memoryRow("end (steady pair left)", result.end, first, none)
  ]
  const table = [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`)
  ].join("\n")

  const v = verdict(result.rounds)
  const criterion = v
    ? `Criterion (rounds 2–${result.rounds.length} within ${100 * TOLERANCE}% of round 1): ` +
      `heap ${v.heapFlat ? "**flat**" : "**grows**"} (largest deviation ${magnitude(v.heapMaxDeviation)}), ` +
      `RSS ${v.rssFlat ? "**flat**" : "**grows**"} (largest deviation ${magnitude(v.rssMaxDeviation)}).`
    : "Criterion: needs at least 2 rounds."
  const g = result.end.gauges
  const e = result.empty.gauges
  const gaugesBack =
    g.rooms === e.rooms && g.participants === e.participants && g.publications === e.publications
  const errors = result.rounds.flatMap((r) =>
    Object.entries(r.tally.errors).map(([m, n]) => `round ${r.round}: ${m} ×${n}`)
  )
  const lagging = result.rounds.filter((r) => r.gaugesBackMs === undefined)
  return [
    `\n## Prism churn soak, ${result.date.slice(0, 16).replace("T", " ")} UTC\n`,
    `\`${result.command}\`; node ${result.node}, ${result.cpus} CPUs, ${(result.durationSeconds / 60).toFixed(1)} min. ` +
      "Memory columns are sampled in the server after a full GC, once the round's churners are gone.\n",
    table,
    "",
    criterion,
    `Gauges at the end: rooms ${g.rooms}, participants ${g.participants}, publications ${g.publications} ` +
      `(${gaugesBack ? "back to" : "**not** back to"} the empty server's ${e.rooms}/${e.participants}/${e.publications}).` +
      (lagging.length > 0
        ? ` Rounds whose gauges did not return to the steady pair's within 60 s: ${lagging.map((r) => r.round).join(", ")}.`
        : ""),
    `Load average (1 min) at each round's start: ${result.rounds.map((r) => r.loadAverage1m.toFixed(2)).join(", ")}.`,
    errors.length > 0 ? `Client errors: ${errors.join("; ")}.` : "Client errors: none.",
    ""
  ].join("\n")
}
