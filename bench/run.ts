/**
 * `npm run bench`: fan-out benchmark of the Prism server.
 *
 * For each fan-out N the server is started fresh as its own process; ONE publisher
 * process sends paced VP8-shaped RTP into a room and ceil(N / peers-per-process)
 * subscriber processes host N werift peer connections that each receive it. After a
 * warm-up the measured window starts: server figures come from Prometheus deltas
 * (aligned to the server's 1 s counter flush) and /proc CPU times, client figures from
 * packet indices each subscriber saw. Results go to stdout as Markdown and to
 * `.bench/results.json`. See docs/benchmarks.md.
 *
 * Flags (defaults in brackets):
 *   --fanouts 1,10,50        fan-outs to run, one fresh server each
 *   --rate 1000              publisher packets/s; --rate<N> <pkt/s> per fan-out [--rate50 200]
 *   --seconds 10             measured window; --warmup 3 s of media before it
 *   --payload 1000           RTP payload bytes; --fps 30 frames/s (rate/fps packets per frame)
 *   --burst-ms 5             pacing tick of the publisher
 *   --peers-per-process 10   subscriber peer connections per client process
 *   --settle 2               seconds after joining before the memory sample
 *   --quiet-wait 15          before each scenario, wait up to this long (0: don't) until
 *   --quiet-threshold 0.15   other processes use less than this many cores
 *   --profile                run the server with --cpu-prof; summaries in .bench/profiles/
 *   --alloc-profile          sample the server's heap allocations during the window (.heapprofile)
 *   --perf                   on-CPU profile of the server with Linux `perf record` during the window
 *   --server-flags="<flags>" extra Node flags for the server, e.g. --server-flags="--heap-growing-percent=200"
 *   --out .bench/results.json  --log-level Warn  --timeout <s>
 *
 * `--soak churn` runs the churn soak instead (bench/soak.ts; its own flags, see --soak churn --help).
 */
import { type ChildProcess, execFileSync, fork, spawn } from "node:child_process"
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  writeFileSync
} from "node:fs"
import { createServer } from "node:net"
import { cpus, loadavg } from "node:os"
import path from "node:path"
import { summarize, summarizeAllocations, summarizePerf } from "./profile-summary.ts"
import {
  type Bucket,
  bucketDelta,
  buckets,
  byLabel,
  histogramQuantile,
  parsePrometheus,
  type Quantile,
  type Scrape,
  value
} from "./prometheus.ts"
import type { FromClient, Role, ToClient } from "./protocol.ts"
import { runSoak } from "./soak.ts"

// ---------------------------------------------------------------- options

const ROOT = path.resolve(import.meta.dirname, "..")
const OUT_DIR = path.join(ROOT, ".bench")

interface Options {
  readonly fanouts: ReadonlyArray<number>
  readonly rate: number
  readonly rateFor: Readonly<Record<number, number>>
  readonly seconds: number
  readonly warmup: number
  readonly payload: number
  readonly burstMs: number
  readonly fps: number
  readonly peersPerProcess: number
  readonly settle: number
  readonly profile: boolean
  readonly out: string
  readonly logLevel: string
  readonly timeout: number
  readonly quietWait: number
  readonly quietThreshold: number
  readonly allocProfile: boolean
  /** on-CPU profile of the server with Linux perf during the window */
  readonly perf: boolean
  /** extra Node flags for the server process, e.g. "--max-semi-space-size=32" */
  readonly serverFlags: ReadonlyArray<string>
}

const parseOptions = (argv: ReadonlyArray<string>): Options => {
  const flags: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith("--")) throw new Error(`unexpected argument ${arg}`)
    const eq = arg.indexOf("=")
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq)
    const inline = eq < 0 ? undefined : arg.slice(eq + 1)
    if (inline !== undefined) flags[name] = inline
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("--")) flags[name] = argv[++i]!
    else flags[name] = "true"
  }
  const num = (name: string, fallback: number) => {
    const raw = flags[name]
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${raw}`)
    return n
  }
  const rateFor: Record<number, number> = { 50: 200 }
  for (const [name, raw] of Object.entries(flags)) {
    const match = /^rate(\d+)$/.exec(name)
    if (match) rateFor[Number(match[1])] = num(name, Number(raw))
  }
  const known = new Set([
    "fanouts",
    "rate",
    "seconds",
    "warmup",
    "payload",
    "burst-ms",
    "fps",
    "peers-per-process",
    "settle",
    "profile",
    "out",
    "log-level",
    "timeout",
    "quiet-wait",
    "quiet-threshold",
    "server-flags",
    "alloc-profile",
    "perf",
    "help"
  ])
  for (const name of Object.keys(flags)) {
    if (!known.has(name) && !/^rate\d+$/.test(name)) throw new Error(`unknown flag --${name}`)
  }
  if (flags["help"]) {
    console.log(readFileSync(import.meta.filename, "utf8").split("*/")[0])
    process.exit(0)
  }
  const fanouts = (flags["fanouts"] ?? "1,10,50").split(",").map((s) => {
    const n = Number(s)
    if (!Number.isInteger(n) || n < 1) throw new Error(`bad fan-out ${s}`)
    return n
  })
  const seconds = num("seconds", 10)
  const warmup = num("warmup", 3)
  const quietWait = flags["quiet-wait"] === "0" ? 0 : num("quiet-wait", 15)
  return {
    fanouts,
    rate: num("rate", 1000),
    rateFor,
    seconds,
    warmup,
    payload: Math.round(num("payload", 1000)),
    burstMs: num("burst-ms", 5),
    fps: num("fps", 30),
    peersPerProcess: Math.round(num("peers-per-process", 10)),
    settle: num("settle", 2),
    profile: flags["profile"] === "true",
    out: path.resolve(ROOT, flags["out"] ?? ".bench/results.json"),
    logLevel: flags["log-level"] ?? "Warn",
    timeout: num("timeout", 60 + fanouts.length * (warmup + seconds + quietWait + 45)),
    quietWait,
    quietThreshold: flags["quiet-threshold"] === "0" ? 0 : num("quiet-threshold", 0.15),
    serverFlags: (flags["server-flags"] ?? "").split(" ").filter((f) => f !== ""),
    allocProfile: flags["alloc-profile"] === "true",
    perf: flags["perf"] === "true"
  }
}

// ---------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const withTimeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
    promise.then(
      (a) => {
        clearTimeout(timer)
        resolve(a)
      },
      (e: unknown) => {
        clearTimeout(timer)
        reject(e)
      }
    )
  })

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })

/** The Node the project pins (node_modules/.bin/node), so children never run the machine's node. */
const nodeBinary = (): string => {
  const pinned = path.join(ROOT, "node_modules", ".bin", "node")
  return existsSync(pinned) ? realpathSync(pinned) : process.execPath
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

/** User+system CPU seconds of a process from /proc (all threads); undefined when unavailable. */
const procCpuSeconds = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return undefined
  }
}

/**
 * Datagrams the kernel dropped because a socket's receive buffer was full, summed over
 * the UDP sockets each process owns (/proc/<pid>/fd inodes matched in /proc/net/udp).
 */
const udpDrops = (pids: ReadonlyArray<number | undefined>): Array<number | undefined> => {
  let table: Map<string, number>
  try {
    table = new Map()
    for (const line of readFileSync("/proc/net/udp", "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/)
      if (cols.length < 13) continue
      table.set(cols[9]!, Number(cols.at(-1)))
    }
  } catch {
    return pids.map(() => undefined)
  }
  return pids.map((pid) => {
    if (pid === undefined) return undefined
    try {
      let drops = 0
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const link = (() => {
          try {
            return readlinkSync(`/proc/${pid}/fd/${fd}`)
          } catch {
            return ""
          }
        })()
        const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1]
        if (inode !== undefined) drops += table.get(inode) ?? 0
      }
      return drops
    } catch {
      return undefined
    }
  })
}

/** Machine-wide user+nice+system CPU seconds (all cores) from /proc/stat; irq/softirq left out. */
const machineCpuSeconds = (): number | undefined => {
  try {
    const cols = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/)
    return (Number(cols[1]) + Number(cols[2]) + Number(cols[3])) / CLOCK_TICKS
  } catch {
    return undefined
  }
}

/**
 * CPU used by processes other than this benchmark's, in cores, over `ms`: other people's
 * builds and tests on a shared 2-core box distort every figure, so runs report it.
 */
const foreignLoad = async (ms: number, ours: () => number): Promise<number | undefined> => {
  const m0 = machineCpuSeconds()
  const o0 = ours()
  const t0 = performance.now()
  await sleep(ms)
  const m1 = machineCpuSeconds()
  if (m0 === undefined || m1 === undefined) return undefined
  return Math.max(0, (m1 - m0 - (ours() - o0)) / ((performance.now() - t0) / 1000))
}

const selfCpuSeconds = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

const median = (xs: ReadonlyArray<number>): number | undefined => {
  if (xs.length === 0) return undefined
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

// ---------------------------------------------------------------- child processes

const children = new Set<ChildProcess>()

const killAll = (signal: NodeJS.Signals) => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
  }
}

process.on("exit", () => killAll("SIGKILL"))
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping child processes`)
    killAll("SIGKILL")
    process.exit(130)
  })
}

const exited = (child: ChildProcess, ms: number): Promise<boolean> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(true)
    : new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms)
        child.once("exit", () => {
          clearTimeout(timer)
          resolve(true)
        })
      })

/** SIGTERM, then SIGKILL if the process has not exited within `ms`. */
const stop = async (child: ChildProcess, ms: number) => {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
  if (!(await exited(child, ms))) {
    child.kill("SIGKILL")
    await exited(child, 2_000)
  }
  children.delete(child)
}

interface Server {
  readonly process: ChildProcess
  readonly baseUrl: string
  readonly metricsUrl: string
  readonly logFile: string
  /** performance.now() when spawned: profile times are relative to (about) this */
  readonly spawnedAtMs: number
}

const startServer = async (options: Options, label: string): Promise<Server> => {
  const httpPort = await freePort()
  const internalPort = await freePort()
  // a UDP range per scenario, away from the tests' default 40000-49999
  const udpMin = 50000 + Math.floor(Math.random() * 140) * 100
  const logFile = path.join(OUT_DIR, `server-${label}.log`)
  if (options.profile || options.allocProfile || options.perf)
    mkdirSync(path.join(OUT_DIR, "profiles"), { recursive: true })
  const log = createWriteStream(logFile)
  const execArgv = [
    "--expose-gc",
    "--trace-gc", // one line per GC in the server log; run.ts counts them in the window
    ...(options.perf ? ["--perf-basic-prof-only-functions"] : []),
    ...options.serverFlags,
    "--import",
    "tsx",
    "--import",
    "./bench/server-preload.ts"
  ]
  if (options.profile) {
    mkdirSync(path.join(OUT_DIR, "profiles"), { recursive: true })
    execArgv.push(
      "--cpu-prof",
      `--cpu-prof-dir=${path.join(OUT_DIR, "profiles")}`,
      `--cpu-prof-name=server-${label}.cpuprofile`
    )
  }
  const spawnedAtMs = performance.now()
  const child = spawn(nodeBinary(), [...execArgv, "src/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: String(httpPort),
      INTERNAL_PORT: String(internalPort),
      ANNOUNCED_IP: "127.0.0.1",
      UDP_PORT_MIN: String(udpMin),
      UDP_PORT_MAX: String(udpMin + 99),
      LOG_LEVEL: options.logLevel,
      LOG_FORMAT: "json",
      ...(options.allocProfile
        ? { BENCH_ALLOC_PROFILE: path.join(OUT_DIR, "profiles", `server-${label}.heapprofile`) }
        : {})
    },
    // the IPC channel is only a lifeline: bench/server-preload.ts stops the server when it closes
    stdio: ["ignore", "pipe", "pipe", "ipc"]
  })
  children.add(child)
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)
  const server: Server = {
    process: child,
    baseUrl: `http://127.0.0.1:${httpPort}`,
    metricsUrl: `http://127.0.0.1:${internalPort}/metrics`,
    logFile,
    spawnedAtMs
  }
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`server exited with ${child.exitCode} during start-up; see ${logFile}`)
    }
    const ok = await fetch(`http://127.0.0.1:${internalPort}/healthz`, { signal: AbortSignal.timeout(1_000) })
      .then((r) => r.ok)
      .catch(() => false)
    if (ok) return server
    await sleep(100)
  }
  throw new Error(`server not healthy after 30 s; see ${logFile}`)
}

class Client {
  private readonly inbox: FromClient[] = []
  private readonly waiters = new Set<() => void>()
  failure: string | undefined

  constructor(
    readonly role: Role,
    readonly process: ChildProcess,
    readonly peers: number
  ) {
    process.on("message", (message: FromClient) => {
      if (message.type === "error") this.failure = message.message
      else this.inbox.push(message)
      for (const wake of this.waiters) wake()
    })
    process.on("exit", (code, signal) => {
      this.failure ??= `${role} process exited (${code ?? signal})`
      for (const wake of this.waiters) wake()
    })
  }

  static spawn(role: Role, peers: number, logFile: string): Client {
    const log = createWriteStream(logFile)
    const child = fork(path.join(ROOT, "bench", "client.ts"), [role], {
      cwd: ROOT,
      execPath: nodeBinary(),
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "pipe", "pipe", "ipc"]
    })
    children.add(child)
    child.stdout?.pipe(log)
    child.stderr?.pipe(log)
    return new Client(role, child, peers)
  }

  send(message: ToClient): void {
    if (this.process.connected) this.process.send(message)
  }

  /** The next message of `type`; rejects on a client error, exit, or timeout. */
  next<T extends FromClient["type"]>(type: T, ms: number): Promise<Extract<FromClient, { type: T }>> {
    const what = `${this.role} (pid ${this.process.pid}) to answer ${type}`
    return withTimeout(
      new Promise((resolve, reject) => {
        const check = () => {
          const index = this.inbox.findIndex((m) => m.type === type)
          if (index >= 0) {
            this.waiters.delete(check)
            resolve(this.inbox.splice(index, 1)[0] as Extract<FromClient, { type: T }>)
          } else if (this.failure !== undefined) {
            this.waiters.delete(check)
            reject(new Error(`${what}: ${this.failure}`))
          }
        }
        this.waiters.add(check)
        check()
      }),
      ms,
      what
    )
  }

  request<T extends FromClient["type"]>(message: ToClient, type: T, ms: number) {
    this.send(message)
    return this.next(type, ms)
  }

  cpuSeconds(): number | undefined {
    return procCpuSeconds(this.process.pid)
  }
}

// ---------------------------------------------------------------- metrics

/** `perf record` on the server process (on-CPU samples, kernel included); SIGTERM stops it. */
const startPerf = (server: Server, file: string): ChildProcess => {
  const child = spawn("perf", ["record", "-F", "999", "-q", "-p", String(server.process.pid), "-o", file], {
    stdio: ["ignore", "ignore", "pipe"]
  })
  children.add(child)
  child.on("error", (error) => console.error(`perf: ${error.message}`))
  return child
}

/** A full GC in the server (bench/server-preload.ts), then a fresh 1 s process-metrics sample. */
const collectGarbage = async (server: Server) => {
  server.process.kill("SIGUSR2")
  await sleep(1_300)
}

const scrape = async (server: Server): Promise<Scrape> => {
  const response = await fetch(server.metricsUrl, { signal: AbortSignal.timeout(5_000) })
  if (!response.ok) throw new Error(`GET /metrics: ${response.status}`)
  return parsePrometheus(await response.text())
}

const FORWARDED = "prism_packets_forwarded_total"
const RECEIVED = "prism_packets_received_total"
const LATENCY = "prism_forward_latency_seconds"
const CPU = "process_cpu_seconds_total"

interface Snapshot {
  readonly scrape: Scrape
  /** ms (performance.now) when the scrape showing the new flush arrived */
  readonly atMs: number
  readonly serverCpu: number | undefined
  readonly clientCpu: ReadonlyArray<number | undefined>
  /** machine-wide CPU seconds (/proc/stat) and this orchestrator's own */
  readonly machineCpu: number | undefined
  readonly selfCpu: number
  /** process_cpu_seconds_total right after it last changed, and when that was seen */
  readonly cpuGauge: number
  readonly cpuGaugeAtMs: number
  /** [server, ...clients] receive-buffer drops so far */
  readonly udpDrops: ReadonlyArray<number | undefined>
  readonly scrapes: number
}

/**
 * The media counters reach Prometheus once a second, so a plain scrape would be up to 1 s
 * stale. Poll every 25 ms until the received counter moves (a flush just happened) and
 * read the processes' /proc CPU at that moment: the snapshot is then aligned to a flush.
 * The CPU gauge is refreshed by another 1 s loop with its own phase, so keep polling until
 * it moves too and note when: the metrics-based CPU rate uses its own aligned interval.
 */
const alignedSnapshot = async (server: Server, clients: ReadonlyArray<Client>): Promise<Snapshot> => {
  const first = await scrape(server)
  const initialPackets = value(first, RECEIVED)
  const initialCpu = value(first, CPU)
  const deadline = performance.now() + 2_500
  let scrapes = 1
  let flushed: Omit<Snapshot, "cpuGauge" | "cpuGaugeAtMs" | "scrapes"> | undefined
  let cpuGauge: { value: number; atMs: number } | undefined
  while (performance.now() < deadline) {
    await sleep(25)
    const current = await scrape(server)
    scrapes++
    const now = performance.now()
    if (!flushed && value(current, RECEIVED) !== initialPackets) {
      flushed = {
        scrape: current,
        atMs: now,
        serverCpu: procCpuSeconds(server.process.pid),
        clientCpu: clients.map((c) => c.cpuSeconds()),
        udpDrops: udpDrops([server.process.pid, ...clients.map((c) => c.process.pid)]),
        machineCpu: machineCpuSeconds(),
        selfCpu: selfCpuSeconds()
      }
    }
    if (!cpuGauge && value(current, CPU) !== initialCpu) cpuGauge = { value: value(current, CPU), atMs: now }
    if (flushed && cpuGauge) {
      return { ...flushed, cpuGauge: cpuGauge.value, cpuGaugeAtMs: cpuGauge.atMs, scrapes }
    }
  }
  throw new Error("the server's packet counters or CPU gauge did not move within 2.5 s: is media flowing?")
}

interface GcActivity {
  readonly markCompacts: number
  readonly markCompactPauseMs: number
  readonly scavenges: number
  readonly scavengePauseMs: number
}

/**
 * The server runs with --trace-gc; its lines carry ms since the isolate started (a few ms
 * after spawn), so the window in seconds since spawn picks out the GCs that happened in it.
 */
const gcInWindow = (logFile: string, fromSec: number, toSec: number): GcActivity | undefined => {
  let text: string
  try {
    text = readFileSync(logFile, "utf8")
  } catch {
    return undefined
  }
  const gc = { markCompacts: 0, markCompactPauseMs: 0, scavenges: 0, scavengePauseMs: 0 }
  for (const match of text.matchAll(
    /\s(\d+) ms: (Mark-Compact|Scavenge|Minor Mark-Sweep)\b[^\n]*?MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \//g
  )) {
    const at = Number(match[1]) / 1000
    if (at < fromSec || at > toSec) continue
    const pause = Number(match[3])
    if (match[2] === "Mark-Compact") {
      gc.markCompacts++
      gc.markCompactPauseMs += pause
    } else {
      gc.scavenges++
      gc.scavengePauseMs += pause
    }
  }
  return gc
}

const fmtQuantile = (q: Quantile | undefined, unit = 1000): string =>
  q === undefined ? "n/a" : `${q.aboveLastBound ? ">" : ""}${(q.value * unit).toFixed(2)}`

// ---------------------------------------------------------------- one scenario

export interface ScenarioResult {
  readonly fanout: number
  readonly rateTarget: number
  readonly participants: number
  readonly processes: { readonly publisher: number; readonly subscribers: number }
  readonly windowSeconds: number
  /** the measured window in seconds since the server process was spawned (for --profile) */
  readonly windowSinceServerStart: { readonly from: number; readonly to: number }
  readonly profile: string | undefined
  readonly allocationProfile: string | undefined
  readonly perfData: string | undefined
  /** CPU (in cores) used by processes that are not part of this benchmark, before and during the window */
  readonly machine: {
    readonly foreignCoresBefore: number | undefined
    readonly foreignCoresDuringWindow: number | undefined
    readonly loadAverage1m: number
  }
  readonly publisher: {
    readonly sentInWindow: number
    readonly sendRate: number
    readonly keyframes: number
    readonly pictureLossIndications: number
    readonly maxBurst: number
  }
  readonly server: {
    readonly flushWindowSeconds: number
    readonly receivedRate: number
    readonly forwardedRate: number
    readonly deliveryPct: number
    readonly dropped: Readonly<Record<string, number>>
    readonly nacksFromSubscribers: number
    readonly nacksToPublisher: number
    readonly retransmissions: number
    readonly keyframeRequestsToPublisher: number
    readonly cpuCorePct: number | undefined
    readonly cpuUsPerForwardedPacket: number | undefined
    readonly cpuUsPerForwardedPacketProc: number | undefined
    readonly cpuCorePctProc: number | undefined
    /** server CPU with everyone connected but no media yet (timers, RTCP, consent), % of a core */
    readonly idleCpuCorePct: number | undefined
    /** (window CPU - idle CPU) per forwarded packet, /proc based */
    readonly cpuUsPerForwardedPacketAboveIdle: number | undefined
    readonly latencyMs: {
      readonly p50: Quantile | undefined
      readonly p99: Quantile | undefined
      readonly mean: number | undefined
      readonly batches: number
    }
    readonly eventLoopP99Ms: {
      readonly max: number | undefined
      readonly median: number | undefined
      readonly samples: ReadonlyArray<number>
    }
    readonly eventLoopMaxMs: number | undefined
    readonly memory: {
      readonly rssBeforeBytes: number
      readonly rssAfterBytes: number
      readonly heapBeforeBytes: number
      readonly heapAfterBytes: number
      readonly rssPerParticipantBytes: number
      readonly heapPerParticipantBytes: number
    }
    /** datagrams the kernel dropped on the server's sockets (receive buffer full) during the window */
    readonly udpReceiveBufferDrops: number | undefined
    readonly participantsGauge: number
    readonly scrapesForAlignment: number
    /** garbage collections in the window, from the server's --trace-gc lines */
    readonly gc: GcActivity | undefined
  }
  readonly clients: {
    readonly receivedInWindow: number
    readonly expected: number
    readonly deliveryPct: number
    readonly minPeerDeliveryPct: number
    readonly peersWithNothing: number
    readonly subscriberCpuCorePct: number | undefined
    readonly subscriberCpuUsPerPacket: number | undefined
    readonly publisherCpuCorePct: number | undefined
    /** kernel receive-buffer drops on the subscribers' / publisher's sockets during the window */
    readonly udpReceiveBufferDrops: {
      readonly subscribers: number | undefined
      readonly publisher: number | undefined
    }
    readonly joinMs: number
    readonly joinRetries: number
  }
}

const runScenario = async (options: Options, fanout: number): Promise<ScenarioResult> => {
  const rate = options.rateFor[fanout] ?? options.rate
  const label = `fanout${fanout}`
  const room = `bench-${fanout}-${Date.now().toString(36)}`
  const log = (message: string) => console.error(`[fan-out ${fanout}] ${message}`)
  // Wait (bounded) for other people's work on this shared box to calm down.
  let foreignBefore = await foreignLoad(1_000, selfCpuSeconds)
  const quietDeadline = performance.now() + options.quietWait * 1000
  while (
    foreignBefore !== undefined &&
    foreignBefore > options.quietThreshold &&
    performance.now() < quietDeadline
  ) {
    log(`other processes use ${foreignBefore.toFixed(2)} cores; waiting for a quieter machine`)
    foreignBefore = await foreignLoad(2_000, selfCpuSeconds)
  }
  log(`starting server (rate ${rate} pkt/s, window ${options.seconds} s)`)
  const server = await startServer(options, label)
  const clients: Client[] = []
  try {
    const publisher = Client.spawn("publisher", 1, path.join(OUT_DIR, `publisher-${label}.log`))
    clients.push(publisher)
    const subscribers: Client[] = []
    for (let left = fanout; left > 0; left -= options.peersPerProcess) {
      const peers = Math.min(left, options.peersPerProcess)
      const client = Client.spawn(
        "subscriber",
        peers,
        path.join(OUT_DIR, `sub${subscribers.length}-${label}.log`)
      )
      subscribers.push(client)
      clients.push(client)
    }
    await Promise.all(clients.map((c) => c.next("ready", 30_000)))

    // One throw-away publisher+subscriber join first, so one-time costs (lazy loading, JIT,
    // allocator growth) are not counted per participant; then the memory baseline.
    const prime = { baseUrl: server.baseUrl, room: `${room}-prime`, connectTimeoutMs: 20_000 }
    await Promise.all(
      [publisher, subscribers[0]!].map((c) => c.request({ type: "prime", ...prime }, "primed", 40_000))
    )
    await sleep(1_000) // let the leave finish
    await collectGarbage(server)
    const before = await scrape(server)

    const joinStarted = performance.now()
    const join = (c: Client) =>
      c.request(
        { type: "join", baseUrl: server.baseUrl, room, count: c.peers, connectTimeoutMs: 15_000 },
        "joined",
        45_000
      )
    const joins = [await join(publisher), ...(await Promise.all(subscribers.map(join)))]
    const joinRetries = joins.reduce((sum, j) => sum + j.retries, 0)
    const joinMs = performance.now() - joinStarted
    if (joinRetries > 0) log(`${joinRetries} peer connection(s) did not connect at first and were rejoined`)
    log(`${fanout + 1} participants connected in ${joinMs.toFixed(0)} ms; settling ${options.settle} s`)

    // Memory per participant: after the settle and a full GC, before media. The settle
    // also gives the CPU the server spends on connected but silent participants.
    await sleep(1_000) // the joins' own tail (DTLS, first RTCP) is not idle work
    const idleStart = { cpu: procCpuSeconds(server.process.pid), at: performance.now() }
    await sleep(options.settle * 1000)
    const idleEnd = { cpu: procCpuSeconds(server.process.pid), at: performance.now() }
    const idleCorePct =
      idleStart.cpu === undefined || idleEnd.cpu === undefined
        ? undefined
        : (100 * (idleEnd.cpu - idleStart.cpu)) / ((idleEnd.at - idleStart.at) / 1000)
    await collectGarbage(server)
    const joined = await scrape(server)
    const participants = fanout + 1
    const memory = {
      rssBeforeBytes: value(before, "process_resident_memory_bytes"),
      rssAfterBytes: value(joined, "process_resident_memory_bytes"),
      heapBeforeBytes: value(before, "nodejs_heap_size_used_bytes"),
      heapAfterBytes: value(joined, "nodejs_heap_size_used_bytes"),
      rssPerParticipantBytes: 0,
      heapPerParticipantBytes: 0
    }
    memory.rssPerParticipantBytes = (memory.rssAfterBytes - memory.rssBeforeBytes) / participants
    memory.heapPerParticipantBytes = (memory.heapAfterBytes - memory.heapBeforeBytes) / participants

    log(`publishing; warm-up ${options.warmup} s`)
    publisher.send({
      type: "start",
      rate,
      payloadBytes: options.payload,
      burstMs: options.burstMs,
      fps: options.fps
    })
    await sleep(options.warmup * 1000)

    // ---- measured window
    const startMark = await publisher.request({ type: "mark" }, "marked", 5_000)
    const startSnap = await alignedSnapshot(server, clients)
    if (options.allocProfile) server.process.kill("SIGWINCH") // start allocation sampling
    const perfFile = path.join(OUT_DIR, "profiles", `server-${label}.perf.data`)
    const perf = options.perf ? startPerf(server, perfFile) : undefined
    const eventLoopP99: number[] = []
    const eventLoopMax: number[] = []
    let sampling = true
    const sampler = (async () => {
      let last: number | undefined
      while (sampling) {
        await sleep(1_000)
        if (!sampling) break
        const s = await scrape(server).catch(() => undefined)
        if (!s) continue
        const p99 = value(s, "nodejs_eventloop_delay_p99_seconds")
        // the gauge changes once a second; skip a scrape that saw the same sample again
        if (p99 !== last) {
          eventLoopP99.push(p99 * 1000)
          eventLoopMax.push(value(s, "nodejs_eventloop_delay_max_seconds") * 1000)
        }
        last = p99
      }
    })()
    log(`window open (${options.seconds} s)`)
    await sleep(options.seconds * 1000 - (performance.now() - startSnap.atMs))
    const endMark = await publisher.request({ type: "mark" }, "marked", 5_000)
    const endSnap = await alignedSnapshot(server, clients)
    if (options.allocProfile) server.process.kill("SIGWINCH") // stop and write it
    if (perf) await stop(perf, 10_000)
    sampling = false
    await sampler

    // let the window's last packets (and any retransmissions) arrive before counting
    await sleep(1_000)
    await publisher.request({ type: "stop" }, "stopped", 5_000)
    await sleep(500)
    const counts = await Promise.all(
      subscribers.map((c) =>
        c.request({ type: "count", from: startMark.nextIndex, to: endMark.nextIndex }, "counted", 10_000)
      )
    )

    // ---- figures
    const a = startSnap.scrape
    const b = endSnap.scrape
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(b, name, labels) - value(a, name, labels)
    const flushSeconds = (endSnap.atMs - startSnap.atMs) / 1000
    const received = delta(RECEIVED)
    const forwarded = delta(FORWARDED)
    const droppedA = byLabel(a, "prism_packets_dropped_total", "reason")
    const droppedB = byLabel(b, "prism_packets_dropped_total", "reason")
    const dropped: Record<string, number> = {}
    for (const [reason, n] of Object.entries(droppedB)) {
      const d = n - (droppedA[reason] ?? 0)
      if (d !== 0) dropped[reason] = d
    }
    // CPU rate from the gauge over its own aligned interval, scaled to the counters' interval
    const cpuMetric =
      ((endSnap.cpuGauge - startSnap.cpuGauge) / (endSnap.cpuGaugeAtMs - startSnap.cpuGaugeAtMs)) *
      (endSnap.atMs - startSnap.atMs)
    const cpuProc =
      startSnap.serverCpu !== undefined && endSnap.serverCpu !== undefined
        ? endSnap.serverCpu - startSnap.serverCpu
        : undefined
    const latency: Bucket[] = bucketDelta(buckets(a, LATENCY), buckets(b, LATENCY))
    const latencyCount = delta(`${LATENCY}_count`)
    const latencySum = delta(`${LATENCY}_sum`)

    const sentInWindow = endMark.nextIndex - startMark.nextIndex
    const markSeconds = (endMark.atMs - startMark.atMs) / 1000
    const perPeer = counts.flatMap((c) => [...c.perPeer])
    const receivedInWindow = perPeer.reduce((s, n) => s + n, 0)
    const expected = sentInWindow * fanout

    const cpuDelta = (i: number) => {
      const x = startSnap.clientCpu[i]
      const y = endSnap.clientCpu[i]
      return x === undefined || y === undefined ? undefined : y - x
    }
    const subscriberCpu = subscribers
      .map((c) => cpuDelta(clients.indexOf(c)))
      .reduce<number | undefined>((s, x) => (s === undefined || x === undefined ? undefined : s + x), 0)
    const publisherCpu = cpuDelta(clients.indexOf(publisher))
    // udpDrops index 0 is the server, then the clients in `clients` order
    const dropDelta = (i: number) => {
      const x = startSnap.udpDrops[i]
      const y = endSnap.udpDrops[i]
      return x === undefined || y === undefined ? undefined : y - x
    }
    const ourCpu = [startSnap, endSnap].map(
      (snap) =>
        (snap.serverCpu ?? 0) + snap.clientCpu.reduce<number>((sum, x) => sum + (x ?? 0), 0) + snap.selfCpu
    )
    const foreignDuring =
      startSnap.machineCpu === undefined || endSnap.machineCpu === undefined
        ? undefined
        : Math.max(0, (endSnap.machineCpu - startSnap.machineCpu - (ourCpu[1]! - ourCpu[0]!)) / flushSeconds)
    const subscriberDrops = subscribers
      .map((c) => dropDelta(clients.indexOf(c) + 1))
      .reduce<number | undefined>((s, x) => (s === undefined || x === undefined ? undefined : s + x), 0)

    return {
      fanout,
      rateTarget: rate,
      participants,
      processes: { publisher: 1, subscribers: subscribers.length },
      windowSeconds: options.seconds,
      windowSinceServerStart: {
        from: (startSnap.atMs - server.spawnedAtMs) / 1000,
        to: (endSnap.atMs - server.spawnedAtMs) / 1000
      },
      profile: options.profile ? path.join(OUT_DIR, "profiles", `server-${label}.cpuprofile`) : undefined,
      perfData: options.perf ? perfFile : undefined,
      allocationProfile: options.allocProfile
        ? path.join(OUT_DIR, "profiles", `server-${label}.heapprofile`)
        : undefined,
      machine: {
        foreignCoresBefore: foreignBefore,
        foreignCoresDuringWindow: foreignDuring,
        loadAverage1m: loadavg()[0]!
      },
      publisher: {
        sentInWindow,
        sendRate: sentInWindow / markSeconds,
        keyframes: endMark.keyframes,
        pictureLossIndications: endMark.pictureLossIndications,
        maxBurst: endMark.maxBurst
      },
      server: {
        flushWindowSeconds: flushSeconds,
        receivedRate: received / flushSeconds,
        forwardedRate: forwarded / flushSeconds,
        deliveryPct: received > 0 ? (100 * forwarded) / (received * fanout) : 0,
        dropped,
        nacksFromSubscribers: delta("prism_nacks_total", { direction: "from_subscriber" }),
        nacksToPublisher: delta("prism_nacks_total", { direction: "to_publisher" }),
        retransmissions: delta("prism_retransmissions_total"),
        keyframeRequestsToPublisher: delta("prism_keyframe_requests_total", { direction: "to_publisher" }),
        cpuCorePct: (100 * cpuMetric) / flushSeconds,
        cpuUsPerForwardedPacket: forwarded > 0 ? (cpuMetric * 1e6) / forwarded : undefined,
        cpuUsPerForwardedPacketProc:
          cpuProc !== undefined && forwarded > 0 ? (cpuProc * 1e6) / forwarded : undefined,
        cpuCorePctProc: cpuProc !== undefined ? (100 * cpuProc) / flushSeconds : undefined,
        idleCpuCorePct: idleCorePct,
        cpuUsPerForwardedPacketAboveIdle:
          cpuProc !== undefined && idleCorePct !== undefined && forwarded > 0
            ? ((cpuProc - (idleCorePct / 100) * flushSeconds) * 1e6) / forwarded
            : undefined,
        latencyMs: {
          p50: histogramQuantile(0.5, latency),
          p99: histogramQuantile(0.99, latency),
          mean: latencyCount > 0 ? (1000 * latencySum) / latencyCount : undefined,
          batches: latencyCount
        },
        eventLoopP99Ms: {
          max: eventLoopP99.length > 0 ? Math.max(...eventLoopP99) : undefined,
          median: median(eventLoopP99),
          samples: eventLoopP99
        },
        eventLoopMaxMs: eventLoopMax.length > 0 ? Math.max(...eventLoopMax) : undefined,
        memory,
        udpReceiveBufferDrops: dropDelta(0),
        participantsGauge: value(b, "prism_participants"),
        gc: gcInWindow(
          server.logFile,
          (startSnap.atMs - server.spawnedAtMs) / 1000,
          (endSnap.atMs - server.spawnedAtMs) / 1000
        ),
        scrapesForAlignment: startSnap.scrapes + endSnap.scrapes
      },
      clients: {
        receivedInWindow,
        expected,
        deliveryPct: expected > 0 ? (100 * receivedInWindow) / expected : 0,
        minPeerDeliveryPct: sentInWindow > 0 ? (100 * Math.min(...perPeer)) / sentInWindow : 0,
        peersWithNothing: perPeer.filter((n) => n === 0).length,
        subscriberCpuCorePct: subscriberCpu === undefined ? undefined : (100 * subscriberCpu) / flushSeconds,
        subscriberCpuUsPerPacket:
          subscriberCpu === undefined || receivedInWindow === 0
            ? undefined
            : (subscriberCpu * 1e6) / receivedInWindow,
        publisherCpuCorePct: publisherCpu === undefined ? undefined : (100 * publisherCpu) / flushSeconds,
        udpReceiveBufferDrops: {
          subscribers: subscriberDrops,
          publisher: dropDelta(clients.indexOf(publisher) + 1)
        },
        joinMs,
        joinRetries
      }
    }
  } finally {
    log("tearing down")
    await Promise.all(
      clients.map(async (c) => {
        c.send({ type: "leave" })
        await c.next("left", 5_000).catch(() => undefined)
        await stop(c.process, 2_000)
      })
    )
    await stop(server.process, 8_000)
  }
}

// ---------------------------------------------------------------- report

const fmt = (x: number | undefined, digits = 1) =>
  x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(digits)
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)}`

const table = (results: ReadonlyArray<ScenarioResult>): string => {
  const header = [
    "fan-out",
    "in pkt/s (sent / server)",
    "fwd pkt/s",
    "delivery clients / server",
    "server CPU % core",
    "CPU µs / fwd pkt (metrics / proc)",
    "fwd latency p50 / p99 ms",
    "event loop p99 ms (max / median)",
    "memory / participant KB (RSS / heap)",
    "client CPU % core (subs / pub)",
    "other processes' CPU, cores",
    "full GCs in window (pause ms)"
  ]
  const rows = results.map((r) => [
    `${r.fanout}`,
    `${fmt(r.publisher.sendRate, 0)} / ${fmt(r.server.receivedRate, 0)}`,
    fmt(r.server.forwardedRate, 0),
    `${fmt(r.clients.deliveryPct, 2)}% / ${fmt(r.server.deliveryPct, 2)}%`,
    fmt(r.server.cpuCorePct),
    `${fmt(r.server.cpuUsPerForwardedPacket)} / ${fmt(r.server.cpuUsPerForwardedPacketProc)}`,
    `${fmtQuantile(r.server.latencyMs.p50)} / ${fmtQuantile(r.server.latencyMs.p99)}`,
    `${fmt(r.server.eventLoopP99Ms.max)} / ${fmt(r.server.eventLoopP99Ms.median)}`,
    `${kb(r.server.memory.rssPerParticipantBytes)} / ${kb(r.server.memory.heapPerParticipantBytes)}`,
    `${fmt(r.clients.subscriberCpuCorePct, 0)} / ${fmt(r.clients.publisherCpuCorePct, 0)}`,
    fmt(r.machine.foreignCoresDuringWindow, 2),
    r.server.gc ? `${r.server.gc.markCompacts} (${r.server.gc.markCompactPauseMs.toFixed(0)})` : "n/a"
  ])
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`)
  ].join("\n")
}

const notes = (results: ReadonlyArray<ScenarioResult>): string =>
  results
    .map((r) => {
      const dropped = Object.entries(r.server.dropped)
        .map(([k, n]) => `${k} ${n}`)
        .join(", ")
      return (
        `- fan-out ${r.fanout}: ${r.processes.subscribers} subscriber process(es); ` +
        `sent ${r.publisher.sentInWindow} in window, subscribers got ${r.clients.receivedInWindow}/${r.clients.expected} ` +
        `(worst peer ${fmt(r.clients.minPeerDeliveryPct, 2)}%, ${r.clients.peersWithNothing} with nothing); ` +
        `server drops: ${dropped || "none"}; kernel UDP receive-buffer drops: server ${r.server.udpReceiveBufferDrops ?? "n/a"}, ` +
        `subscribers ${r.clients.udpReceiveBufferDrops.subscribers ?? "n/a"}; NACKed ${r.server.nacksFromSubscribers}, ` +
        `retransmitted ${r.server.retransmissions}, NACKed to publisher ${r.server.nacksToPublisher}; keyframes sent ${r.publisher.keyframes}; ` +
        `server idle CPU (all connected, no media) ${fmt(r.server.idleCpuCorePct)}% of a core, ` +
        `${fmt(r.server.cpuUsPerForwardedPacketAboveIdle)} µs/fwd pkt above idle; ` +
        `subscriber CPU ${fmt(r.clients.subscriberCpuUsPerPacket)} µs/received pkt; ` +
        `latency mean ${fmt(r.server.latencyMs.mean, 3)} ms over ${r.server.latencyMs.batches} batches`
      )
    })
    .join("\n")

// ---------------------------------------------------------------- main

const main = async () => {
  const options = parseOptions(process.argv.slice(2))
  mkdirSync(OUT_DIR, { recursive: true })
  const watchdog = setTimeout(() => {
    console.error(`benchmark exceeded --timeout ${options.timeout} s; killing everything`)
    killAll("SIGKILL")
    process.exit(1)
  }, options.timeout * 1000)
  watchdog.unref()

  const node = execFileSync(nodeBinary(), ["--version"], { encoding: "utf8" }).trim()
  const started = new Date()
  console.error(
    `Prism fan-out benchmark: node ${node}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), fan-outs ${options.fanouts.join(",")}`
  )
  const results: ScenarioResult[] = []
  for (const fanout of options.fanouts) results.push(await runScenario(options, fanout))

  const meta = {
    date: started.toISOString(),
    durationSeconds: (Date.now() - started.getTime()) / 1000,
    node,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    options: { ...options, out: path.relative(ROOT, options.out) },
    method: {
      cpu: "server process_cpu_seconds_total delta (metrics) and /proc/<pid>/stat utime+stime delta (proc) over the flush-aligned window",
      eventLoop:
        "max and median of the per-second nodejs_eventloop_delay_p99_seconds samples seen during the window",
      latency:
        "p50/p99 interpolated linearly inside prism_forward_latency_seconds bucket deltas over the window",
      memory: "(RSS or heap after all participants joined and settled) - (before any joined), divided by N+1"
    }
  }
  mkdirSync(path.dirname(options.out), { recursive: true })
  writeFileSync(options.out, `${JSON.stringify({ meta, results }, null, 2)}\n`)

  console.log(`\n## Prism fan-out benchmark, ${started.toISOString().slice(0, 16).replace("T", " ")} UTC\n`)
  console.log(
    `node ${node}, ${meta.cpus} × ${meta.cpuModel}, window ${options.seconds} s after ${options.warmup} s warm-up, ${options.payload}-byte payloads\n`
  )
  console.log(table(results))
  console.log(`\n${notes(results)}\n`)
  console.log(`JSON: ${path.relative(ROOT, options.out)}`)

  for (const r of results) {
    if (!r.perfData) continue
    if (!existsSync(r.perfData)) {
      console.error(`no perf data at ${r.perfData}`)
      continue
    }
    try {
      const summary = summarizePerf(r.perfData)
      const file = r.perfData.replace(/\.perf\.data$/, ".perf.txt")
      writeFileSync(file, `${summary}\n`)
      console.log(
        `\n### Server on-CPU profile (perf), fan-out ${r.fanout}, measured window (${path.relative(ROOT, file)})\n`
      )
      console.log("```")
      console.log(summary)
      console.log("```")
    } catch (error) {
      console.error(`perf report failed: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
  for (const r of results) {
    if (!r.allocationProfile) continue
    if (!existsSync(r.allocationProfile)) {
      console.error(`no allocation profile at ${r.allocationProfile}`)
      continue
    }
    const packets = r.server.forwardedRate * r.server.flushWindowSeconds
    const summary = summarizeAllocations(r.allocationProfile, { top: 25, packets })
    const file = r.allocationProfile.replace(/\.heapprofile$/, ".alloc.txt")
    writeFileSync(file, `${summary}\n`)
    console.log(
      `\n### Server allocations, fan-out ${r.fanout}, measured window (${path.relative(ROOT, file)})\n`
    )
    console.log("```")
    console.log(summary)
    console.log("```")
  }
  for (const r of results) {
    if (!r.profile) continue
    if (!existsSync(r.profile)) {
      console.error(`no profile at ${r.profile} (did the server exit cleanly?)`)
      continue
    }
    const summary = summarize(r.profile, { top: 20, ...r.windowSinceServerStart })
    const file = r.profile.replace(/\.cpuprofile$/, ".txt")
    writeFileSync(file, `${summary}\n`)
    console.log(`\n### Server profile, fan-out ${r.fanout}, measured window (${path.relative(ROOT, file)})\n`)
    console.log("```")
    console.log(summary.split("\n\nTop 20 functions by total")[0])
    console.log("```")
  }
}

const argv = process.argv.slice(2)
const run = argv.some((arg) => arg === "--soak" || arg.startsWith("--soak=")) ? () => runSoak(argv) : main
run().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error)
    killAll("SIGKILL")
    process.exit(1)
  }
)
