/**
 * `npm run bench -- --soak churn`: does the server's memory come back after clients come and go?
 *
 * One server process and, for the whole run, a steady libwebrtc publisher → subscriber pair in
 * one room. Each round, churning libwebrtc clients join (POST offer, connect, control hello,
 * a topic message, media for a few seconds) and leave (DELETE) over and over: every other one
 * into the steady pair's room, the rest into rooms of their own, new each time. When the round
 * is over and they are all gone, the server runs a full GC and reports heap, RSS, file
 * descriptors and libuv handles; the steady subscriber reports its longest gap between frames.
 * The criterion: every round after the first ends within 10% of the first, heap and RSS.
 * At the end the steady pair leaves too and the room/participant gauges must be back at 0.
 * Results go to stdout as Markdown and to `.bench/soak-results.json`. See docs/benchmarks.md.
 *
 * Flags (defaults in brackets):
 *   --soak churn              the soak to run (the only one)
 *   --rounds 3                rounds of churn
 *   --round-seconds 60        churn per round
 *   --churners 16             clients joining and leaving at once
 *   --churners-per-process 8  libwebrtc clients per client process (fresh processes each round)
 *   --hold-ms 2000-4000       how long a churner stays once connected (uniform in the range)
 *   --settle 3                seconds between the last leave (gauges back) and the memory sample
 *   --empty-room-grace 2      the server's EMPTY_ROOM_GRACE, in seconds
 *   --reclaim                 after each sample, how much RSS V8 and glibc give back (a last-resort GC, then
 *                             malloc_trim(0) through gdb; bench/reclaim.ts); changes what the next round starts from
 *   --heap-snapshots [2,6]    write a server heap snapshot after each sample, or after the listed rounds only
 *                             (and at start and end; .bench/soak/; each stalls the server for seconds and adds RSS)
 *   --server-flags="<flags>"  extra Node flags for the server, e.g. --server-flags="--max-semi-space-size=8"
 *   --server-env="K=V ..."    extra environment for the server, e.g. --server-env="MALLOC_ARENA_MAX=2"
 *   --out .bench/soak-results.json  --log-level Warn
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import path from "node:path"
import { parsePrometheus, value } from "./prometheus.ts"
import { reclaim } from "./reclaim.ts"
import { procCpuSeconds, procRss, ROOT, SoakClient, SoakServer, sleep, stop } from "./soak-processes.ts"
import type { ChurnTally, SteadyPeriod } from "./soak-protocol.ts"
import { type ChurnWatch, type Gauges, type RoundResult, type SoakResult, soakReport } from "./soak-report.ts"

const OUT_DIR = path.join(ROOT, ".bench")
const SNAPSHOT_DIR = path.join(OUT_DIR, "soak")
const STEADY_ROOM = "soak-steady"

export interface SoakOptions {
  readonly rounds: number
  readonly roundSeconds: number
  readonly churners: number
  readonly churnersPerProcess: number
  readonly holdMs: readonly [number, number]
  readonly settle: number
  readonly emptyRoomGrace: number
  /** which rounds end with a heap snapshot (none: no snapshots at all) */
  readonly heapSnapshots: ReadonlySet<number> | "all" | "none"
  readonly reclaim: boolean
  readonly serverFlags: ReadonlyArray<string>
  readonly serverEnv: Readonly<Record<string, string>>
  readonly out: string
  readonly logLevel: string
}

const parseOptions = (argv: ReadonlyArray<string>): SoakOptions => {
  const flags: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith("--")) throw new Error(`unexpected argument ${arg}`)
    const eq = arg.indexOf("=")
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq)
    if (eq >= 0) flags[name] = arg.slice(eq + 1)
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("--")) flags[name] = argv[++i]!
    else flags[name] = "true"
  }
  const known = [
    "soak",
    "rounds",
    "round-seconds",
    "churners",
    "churners-per-process",
    "hold-ms",
    "settle",
    "empty-room-grace",
    "heap-snapshots",
    "reclaim",
    "server-flags",
    "server-env",
    "out",
    "log-level",
    "help"
  ]
  for (const name of Object.keys(flags))
    if (!known.includes(name)) throw new Error(`unknown soak flag --${name}`)
  if (flags["help"]) {
    console.log(readFileSync(import.meta.filename, "utf8").split("*/")[0])
    process.exit(0)
  }
  if (flags["soak"] !== "churn") throw new Error(`--soak ${flags["soak"]}: the only soak is "churn"`)
  const num = (name: string, fallback: number) => {
    const raw = flags[name]
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${raw}`)
    return n
  }
  const hold = (flags["hold-ms"] ?? "2000-4000").split("-").map(Number)
  if (hold.length !== 2 || !hold.every((n) => Number.isFinite(n) && n >= 0) || hold[0]! > hold[1]!) {
    throw new Error(`--hold-ms must be <min>-<max>, got ${flags["hold-ms"]}`)
  }
  const serverEnv: Record<string, string> = {}
  for (const pair of (flags["server-env"] ?? "").split(" ").filter((p) => p !== "")) {
    const eq = pair.indexOf("=")
    if (eq <= 0) throw new Error(`--server-env entries are KEY=VALUE, got ${pair}`)
    serverEnv[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return {
    rounds: Math.round(num("rounds", 3)),
    roundSeconds: num("round-seconds", 60),
    churners: Math.round(num("churners", 16)),
    churnersPerProcess: Math.round(num("churners-per-process", 8)),
    holdMs: [hold[0]!, hold[1]!],
    settle: num("settle", 3),
    emptyRoomGrace: num("empty-room-grace", 2),
    heapSnapshots:
      flags["heap-snapshots"] === undefined
        ? "none"
        : flags["heap-snapshots"] === "true"
          ? "all"
          : new Set(flags["heap-snapshots"].split(",").map(Number)),
    reclaim: flags["reclaim"] === "true",
    serverFlags: (flags["server-flags"] ?? "").split(" ").filter((f) => f !== ""),
    serverEnv,
    out: path.resolve(ROOT, flags["out"] ?? ".bench/soak-results.json"),
    logLevel: flags["log-level"] ?? "Warn"
  }
}

const log = (message: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`)

const gaugesOf = async (server: SoakServer): Promise<Gauges> => {
  const scrape = parsePrometheus(await server.metrics())
  return {
    rooms: value(scrape, "prism_rooms"),
    participants: value(scrape, "prism_participants"),
    publications: value(scrape, "prism_publications")
  }
}

/** Polls the gauges until `done` holds (or `timeoutMs` passes); returns the last reading and how long it took. */
const gaugesUntil = async (server: SoakServer, done: (g: Gauges) => boolean, timeoutMs: number) => {
  const started = performance.now()
  let gauges = await gaugesOf(server)
  while (!done(gauges) && performance.now() - started < timeoutMs) {
    await sleep(250)
    gauges = await gaugesOf(server)
  }
  return { gauges, reached: done(gauges), ms: performance.now() - started }
}

const sumTallies = (tallies: ReadonlyArray<ChurnTally>): ChurnTally => {
  const merge = (pick: (t: ChurnTally) => Readonly<Record<string, number>>) => {
    const merged: Record<string, number> = {}
    for (const t of tallies) for (const [k, n] of Object.entries(pick(t))) merged[k] = (merged[k] ?? 0) + n
    return merged
  }
  const sum = (pick: (t: ChurnTally) => number) => tallies.reduce((s, t) => s + pick(t), 0)
  return {
    joins: sum((t) => t.joins),
    leaves: sum((t) => t.leaves),
    joinStatuses: merge((t) => t.joinStatuses),
    leaveStatuses: merge((t) => t.leaveStatuses),
    notConnected: sum((t) => t.notConnected),
    welcomed: sum((t) => t.welcomed),
    errors: merge((t) => t.errors)
  }
}

/**
 * Watches the server once a second while `running` is pending: its peak RSS, V8 heap committed
 * and external memory (Buffers), its longest event-loop stall (the 1 s
 * `nodejs_eventloop_delay_max_seconds` gauge) and its CPU.
 */
const watchServerWhile = async (server: SoakServer, running: Promise<unknown>): Promise<ChurnWatch> => {
  const pid = server.process.pid
  const started = { at: performance.now(), cpu: procCpuSeconds(pid) }
  let peakRss = procRss(pid) ?? 0
  let maxEventLoopDelay = 0
  let peakExternal = 0
  let peakHeapTotal = 0
  let finished = false
  void running.finally(() => {
    finished = true
  })
  while (!finished) {
    await Promise.race([sleep(1_000), running.catch(() => undefined)])
    peakRss = Math.max(peakRss, procRss(pid) ?? 0)
    const scrape = await server.metrics().then(parsePrometheus, () => undefined)
    if (scrape) {
      maxEventLoopDelay = Math.max(maxEventLoopDelay, value(scrape, "nodejs_eventloop_delay_max_seconds"))
      peakExternal = Math.max(peakExternal, value(scrape, "nodejs_external_memory_bytes"))
      peakHeapTotal = Math.max(peakHeapTotal, value(scrape, "nodejs_heap_size_total_bytes"))
    }
  }
  const cpu = procCpuSeconds(pid)
  const seconds = (performance.now() - started.at) / 1000
  return {
    peakRss,
    peakExternal,
    peakHeapTotal,
    maxEventLoopDelayMs: maxEventLoopDelay * 1000,
    cpuCorePct:
      cpu !== undefined && started.cpu !== undefined ? (100 * (cpu - started.cpu)) / seconds : undefined
  }
}

const snapshotsAfter = (options: SoakOptions, round: number) =>
  options.heapSnapshots === "all" || (options.heapSnapshots !== "none" && options.heapSnapshots.has(round))

const runRound = async (
  options: SoakOptions,
  server: SoakServer,
  steady: SoakClient,
  round: number,
  steadyGauges: Gauges
): Promise<RoundResult> => {
  const processes = Math.ceil(options.churners / options.churnersPerProcess)
  const logFile = path.join(OUT_DIR, "soak-clients.log")
  const churnClients = await Promise.all(
    Array.from({ length: processes }, () => SoakClient.spawn("churn", logFile))
  )
  const started = performance.now()
  const load = loadavg()[0]!
  log(`round ${round}: ${options.churners} churners in ${processes} processes for ${options.roundSeconds} s`)
  try {
    const churning = Promise.all(
      churnClients.map((client, i) => {
        const churners = Math.floor(options.churners / processes) + (i < options.churners % processes ? 1 : 0)
        return client.request(
          {
            type: "churn",
            baseUrl: server.baseUrl,
            sharedRoom: STEADY_ROOM,
            roomPrefix: `soak-r${round}-p${i}`,
            churners,
            seconds: options.roundSeconds,
            holdMs: options.holdMs
          },
          "churned",
          (options.roundSeconds + 90) * 1000
        )
      })
    )
    const watch = await watchServerWhile(server, churning)
    const tally = sumTallies(await churning)
    const churnSeconds = (performance.now() - started) / 1000
    await Promise.all(churnClients.map((c) => c.close()))
    const quiet = await gaugesUntil(
      server,
      (g) =>
        g.rooms === steadyGauges.rooms &&
        g.participants === steadyGauges.participants &&
        g.publications === steadyGauges.publications,
      60_000
    )
    await sleep(options.settle * 1000)
    const steadyPeriod: SteadyPeriod = await steady.request(
      { type: "steady-report" },
      "steady-period",
      10_000
    )
    const memory = await server.memory()
    const reclaimed = options.reclaim ? await reclaim(server) : undefined
    const snapshot = snapshotsAfter(options, round)
      ? await server.heapSnapshot(path.join(SNAPSHOT_DIR, `round-${round}.heapsnapshot`))
      : undefined
    // the forced GC and the snapshot stall the server: that gap belongs to no round
    await steady.request({ type: "steady-report" }, "steady-period", 10_000)
    log(
      `round ${round}: ${tally.joins} joins, heap ${(memory.heapUsed / 2 ** 20).toFixed(1)} MB, ` +
        `RSS ${(memory.rss / 2 ** 20).toFixed(1)} MB, steady max gap ${steadyPeriod.maxFrameGapMs.toFixed(0)} ms`
    )
    return {
      round,
      churnSeconds,
      loadAverage1m: load,
      tally,
      gaugesAfter: quiet.gauges,
      gaugesBackMs: quiet.reached ? quiet.ms : undefined,
      duringChurn: watch,
      memory,
      reclaimed,
      steady: steadyPeriod,
      heapSnapshot: snapshot
    }
  } finally {
    await Promise.all(churnClients.map((c) => stop(c.process, 3_000)))
  }
}

export const runSoak = async (argv: ReadonlyArray<string>): Promise<void> => {
  const options = parseOptions(argv)
  mkdirSync(OUT_DIR, { recursive: true })
  if (options.heapSnapshots !== "none") mkdirSync(SNAPSHOT_DIR, { recursive: true })
  writeFileSync(path.join(OUT_DIR, "soak-clients.log"), "")
  const started = new Date()
  log(
    `churn soak: ${options.rounds} rounds × ${options.roundSeconds} s, ${options.churners} churners, ` +
      `${cpus().length} CPUs`
  )
  const server = await SoakServer.start({
    logFile: path.join(OUT_DIR, "soak-server.log"),
    logLevel: options.logLevel,
    emptyRoomGrace: `${options.emptyRoomGrace} seconds`,
    flags: options.serverFlags,
    env: options.serverEnv
  })
  let steady: SoakClient | undefined
  try {
    const snapshot = async (name: string) => {
      if (options.heapSnapshots !== "none")
        await server.heapSnapshot(path.join(SNAPSHOT_DIR, `${name}.heapsnapshot`))
    }
    const empty = { gauges: await gaugesOf(server), memory: await server.memory() }
    await snapshot("start")
    steady = await SoakClient.spawn("steady", path.join(OUT_DIR, "soak-clients.log"))
    await steady.request(
      { type: "steady-join", baseUrl: server.baseUrl, room: STEADY_ROOM },
      "steady-joined",
      60_000
    )
    await steady.next("steady-period", 1_000)
    await sleep(options.settle * 1000)
    const steadyGauges = await gaugesOf(server)
    const beforeChurn = { gauges: steadyGauges, memory: await server.memory() }
    await snapshot("steady-joined")
    await steady.request({ type: "steady-report" }, "steady-period", 10_000)
    log(
      `steady pair joined (${steadyGauges.participants} participants); heap ` +
        `${(beforeChurn.memory.heapUsed / 2 ** 20).toFixed(1)} MB, RSS ${(beforeChurn.memory.rss / 2 ** 20).toFixed(1)} MB`
    )

    const rounds: RoundResult[] = []
    for (let round = 1; round <= options.rounds; round++) {
      rounds.push(await runRound(options, server, steady, round, steadyGauges))
    }

    await steady.close()
    steady = undefined
    const emptied = await gaugesUntil(
      server,
      (g) => g.rooms === empty.gauges.rooms && g.participants === empty.gauges.participants,
      60_000
    )
    await sleep(options.settle * 1000)
    const endMemory = await server.memory()
    const end = {
      gauges: emptied.gauges,
      memory: endMemory,
      reclaimed: options.reclaim ? await reclaim(server) : undefined
    }
    await snapshot("end")

    const result: SoakResult = {
      date: started.toISOString(),
      durationSeconds: (Date.now() - started.getTime()) / 1000,
      command: `npm run bench -- ${argv.join(" ")}`,
      node: process.version,
      cpus: cpus().length,
      options: {
        ...options,
        heapSnapshots:
          typeof options.heapSnapshots === "string" ? options.heapSnapshots : [...options.heapSnapshots],
        out: path.relative(ROOT, options.out)
      },
      empty,
      beforeChurn,
      rounds,
      end
    }
    mkdirSync(path.dirname(options.out), { recursive: true })
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`)
    console.log(soakReport(result))
    console.log(`JSON: ${path.relative(ROOT, options.out)}`)
  } finally {
    if (steady) await steady.close()
    await stop(server.process, 8_000)
  }
}
