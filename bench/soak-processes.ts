/**
 * The churn soak's processes: the server (`src/main.ts` with `bench/server-preload.ts`, so it
 * answers memory probes over IPC) and the libwebrtc client processes (`bench/soak-client.ts`).
 */
import { type ChildProcess, fork, spawn } from "node:child_process"
import { createWriteStream, existsSync, readFileSync, realpathSync } from "node:fs"
import { createServer } from "node:net"
import path from "node:path"
import type { MemoryProbeReply, MemorySample } from "./memory-probe.ts"
import type { FromSoakClient, SoakRole, ToSoakClient } from "./soak-protocol.ts"

export const ROOT = path.resolve(import.meta.dirname, "..")

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const children = new Set<ChildProcess>()

export const killAll = (signal: NodeJS.Signals) => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
  }
}

process.on("exit", () => killAll("SIGKILL"))

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
export const stop = async (child: ChildProcess, ms: number) => {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
  if (!(await exited(child, ms))) {
    child.kill("SIGKILL")
    await exited(child, 2_000)
  }
  children.delete(child)
}

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

/** /proc reports CPU times in clock ticks of USER_HZ, which Linux fixes at 100. */
const USER_HZ = 100

/** User+system CPU seconds of a process (all threads) from /proc. */
export const procCpuSeconds = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ
  } catch {
    return undefined
  }
}

/** Resident set size of a process from /proc, bytes. */
export const procRss = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("VmRSS:"))
    return line ? Number(line.split(/\s+/)[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

export interface ServerOptions {
  readonly logFile: string
  readonly logLevel: string
  readonly emptyRoomGrace: string
  readonly flags: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
}

export class SoakServer {
  private nextProbe = 0
  /** the end of what the server wrote to stderr (glibc's malloc_stats() writes there) */
  stderrTail = ""

  private constructor(
    readonly process: ChildProcess,
    readonly baseUrl: string,
    readonly metricsUrl: string
  ) {}

  static async start(options: ServerOptions): Promise<SoakServer> {
    const httpPort = await freePort()
    const internalPort = await freePort()
    const udpMin = 50000 + Math.floor(Math.random() * 70) * 200
    const log = createWriteStream(options.logFile)
    const child = spawn(
      nodeBinary(),
      [
        "--expose-gc",
        ...options.flags,
        "--import",
        "tsx",
        "--import",
        "./bench/server-preload.ts",
        "src/main.ts"
      ],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          HTTP_HOST: "127.0.0.1",
          HTTP_PORT: String(httpPort),
          INTERNAL_PORT: String(internalPort),
          ANNOUNCED_IP: "127.0.0.1",
          UDP_PORT_MIN: String(udpMin),
          UDP_PORT_MAX: String(udpMin + 199),
          LOG_LEVEL: options.logLevel,
          LOG_FORMAT: "json",
          EMPTY_ROOM_GRACE: options.emptyRoomGrace,
          ...options.env
        },
        stdio: ["ignore", "pipe", "pipe", "ipc"]
      }
    )
    children.add(child)
    child.stdout?.pipe(log)
    child.stderr?.pipe(log)
    const server = new SoakServer(
      child,
      `http://127.0.0.1:${httpPort}`,
      `http://127.0.0.1:${internalPort}/metrics`
    )
    child.stderr?.on("data", (chunk: Buffer) => {
      server.stderrTail = (server.stderrTail + chunk.toString("utf8")).slice(-65_536)
    })
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`server exited during start-up; see ${options.logFile}`)
      const ok = await fetch(`http://127.0.0.1:${internalPort}/healthz`, {
        signal: AbortSignal.timeout(1_000)
      })
        .then((r) => r.ok)
        .catch(() => false)
      if (ok) return server
      await sleep(100)
    }
    throw new Error(`server not healthy after 30 s; see ${options.logFile}`)
  }

  private ask<T extends MemoryProbeReply["type"]>(
    request: { type: T } & Record<string, unknown>,
    timeoutMs: number
  ): Promise<Extract<MemoryProbeReply, { type: T }>> {
    const id = ++this.nextProbe
    return withTimeout(
      new Promise((resolve) => {
        const onMessage = (reply: MemoryProbeReply) => {
          if (reply?.type !== request.type || reply.id !== id) return
          this.process.off("message", onMessage)
          resolve(reply as Extract<MemoryProbeReply, { type: T }>)
        }
        this.process.on("message", onMessage)
        this.process.send({ ...request, id })
      }),
      timeoutMs,
      `server to answer ${request.type}`
    )
  }

  /** A full GC in the server, then its memory figures. */
  async memory(): Promise<MemorySample> {
    return (await this.ask({ type: "memory-probe" }, 30_000)).sample
  }

  /** V8's last-resort GC in the server: what is left of its heap and RSS. */
  async lastResortGc(): Promise<{ heapUsed: number; rss: number }> {
    const reply = await this.ask({ type: "last-resort-gc" }, 30_000)
    return { heapUsed: reply.heapUsed, rss: reply.rss }
  }

  async heapSnapshot(file: string): Promise<{ file: string; ms: number }> {
    const reply = await this.ask({ type: "heap-snapshot", file }, 180_000)
    return { file: reply.file, ms: reply.ms }
  }

  async metrics(): Promise<string> {
    const response = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(5_000) })
    if (!response.ok) throw new Error(`GET /metrics: ${response.status}`)
    return response.text()
  }
}

/** A `bench/soak-client.ts` process. */
export class SoakClient {
  private readonly inbox: FromSoakClient[] = []
  private readonly waiters = new Set<() => void>()
  failure: string | undefined

  private constructor(
    readonly role: SoakRole,
    readonly process: ChildProcess
  ) {
    process.on("message", (message: FromSoakClient) => {
      if (message.type === "error") this.failure = message.message
      else this.inbox.push(message)
      for (const wake of this.waiters) wake()
    })
    process.on("exit", (code, signal) => {
      this.failure ??= `${role} process exited (${code ?? signal})`
      for (const wake of this.waiters) wake()
    })
  }

  static async spawn(role: SoakRole, logFile: string): Promise<SoakClient> {
    const log = createWriteStream(logFile, { flags: "a" })
    const child = fork(path.join(ROOT, "bench", "soak-client.ts"), [role], {
      cwd: ROOT,
      execPath: nodeBinary(),
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "pipe", "pipe", "ipc"]
    })
    children.add(child)
    child.stdout?.pipe(log)
    child.stderr?.pipe(log)
    const client = new SoakClient(role, child)
    await client.next("ready", 30_000)
    return client
  }

  send(message: ToSoakClient): void {
    if (this.process.connected) this.process.send(message)
  }

  /** The next message of `type`; rejects on a client error, exit, or timeout. */
  next<T extends FromSoakClient["type"]>(type: T, ms: number): Promise<Extract<FromSoakClient, { type: T }>> {
    const what = `${this.role} client (pid ${this.process.pid}) to answer ${type}`
    return withTimeout(
      new Promise((resolve, reject) => {
        const check = () => {
          const index = this.inbox.findIndex((m) => m.type === type)
          if (index >= 0) {
            this.waiters.delete(check)
            resolve(this.inbox.splice(index, 1)[0] as Extract<FromSoakClient, { type: T }>)
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

  request<T extends FromSoakClient["type"]>(message: ToSoakClient, type: T, ms: number) {
    this.send(message)
    return this.next(type, ms)
  }

  /** Leaves (the steady pair DELETEs itself), then the process exits. */
  async close(): Promise<void> {
    if (this.process.exitCode === null) {
      this.send({ type: "leave" })
      await this.next("left", 15_000).catch(() => undefined)
    }
    await stop(this.process, 3_000)
  }
}
