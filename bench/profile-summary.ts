/**
 * Summarises a V8 `.cpuprofile` (from `npm run bench -- --profile`, which starts the server
 * with `--cpu-prof`): busy time by area (werift SRTP, crypto, sockets, Effect, Prism, GC…),
 * the top functions by self and total time, and the longest busy stretches.
 *
 *   npx tsx bench/profile-summary.ts .bench/profiles/server-fanout10.cpuprofile [--top 25] [--from s] [--to s]
 *   npx tsx bench/profile-summary.ts .bench/profiles/server-fanout10.heapprofile [--packets N]
 *   npx tsx bench/profile-summary.ts .bench/profiles/server-fanout10.perf.data [--top N]
 *
 * --from/--to restrict a CPU profile to seconds since it started (run.ts passes the window).
 * A `.heapprofile` (from `--alloc-profile`) is summarised as bytes allocated by area and
 * function; --packets N divides by the forwarded packets.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
  readonly startTime: number
  readonly endTime: number
}

/**
 * werift's ESM entry is one bundle (lib/index.mjs) whose `// ../rtp/src/srtp/…ts` comments
 * mark where each source file starts: map a bundle line back to its source file.
 */
const bundleSources = new Map<string, Array<{ readonly line: number; readonly source: string }>>()
const sourceOf = (url: string, lineNumber: number): string | undefined => {
  if (!url.endsWith("werift/lib/index.mjs")) return undefined
  let table = bundleSources.get(url)
  if (!table) {
    table = []
    const file = url.startsWith("file://") ? fileURLToPath(url) : url
    if (existsSync(file)) {
      const lines = readFileSync(file, "utf8").split("\n")
      for (let i = 0; i < lines.length; i++) {
        // "// ../rtp/src/x.ts" is another package; "// src/x.ts" is the webrtc package itself
        const match = /^\/\/ ((?:\.\.\/)*)(\S+\.ts)$/.exec(lines[i]!)
        if (match) table.push({ line: i, source: match[1] ? match[2]! : `webrtc/${match[2]!}` })
      }
    }
    bundleSources.set(url, table)
  }
  let found: string | undefined
  for (const entry of table) {
    if (entry.line > lineNumber) break
    found = entry.source
  }
  return found
}

const shortUrl = (url: string, lineNumber = 0): string => {
  const source = sourceOf(url, lineNumber)
  if (source) return `werift:${source}`
  const nm = url.lastIndexOf("node_modules/")
  if (nm >= 0) return url.slice(nm + "node_modules/".length)
  const src = url.indexOf("/src/")
  if (src >= 0) return url.slice(src + 1)
  return url.replace(/^file:\/\//, "")
}

/** Which part of the stack a frame belongs to, by its script. */
export const area = (frame: CallFrame): string => {
  const source = sourceOf(frame.url, frame.lineNumber)
  const url = source ? `werift/lib/${source}` : frame.url
  const name = frame.functionName
  if (name === "(garbage collector)") return "GC"
  if (name === "(idle)") return "idle"
  if (name === "(program)") return "(program: native, not attributed)"
  if (url.includes("werift/lib")) {
    if (/rtp\/src\/srtp\//.test(url)) return "werift SRTP/SRTCP"
    if (/(^|\/)rtp\//.test(url)) return "werift RTP/RTCP (de)serialize"
    if (/(^|\/)dtls\//.test(url)) return "werift DTLS"
    if (/(^|\/)ice\//.test(url)) return "werift ICE/STUN"
    if (/(^|\/)common\//.test(url)) return "werift common (events, transport)"
    if (url.includes("index.mjs")) return "werift (ESM bundle)"
    return "werift webrtc (sender/receiver/transports)"
  }
  if (url.startsWith("node:internal/crypto") || url === "node:crypto") return "node crypto"
  if (url.includes("dgram") || url.includes("udp")) return "node dgram/UDP (incl. sendto syscall)"
  if (url === "node:buffer" || url === "node:internal/buffer") return "node Buffer"
  if (/^node:(internal\/(timers|process\/task_queues|async_hooks)|events|async_hooks|timers)/.test(url))
    return "node event loop plumbing (timers, nextTick, events)"
  if (/^node:internal\/modules|esbuild|tsx\/dist/.test(url)) return "module loading / tsx (start-up)"
  if (url.startsWith("node:")) return "node other"
  if (url === "") return "native (unattributed)"
  if (url.includes("node_modules/effect/")) return "Effect runtime"
  if (url.includes("node_modules/@effect/")) return "@effect/platform"
  if (url.includes("/src/")) return "Prism src"
  return "other JS"
}

export interface SummaryOptions {
  readonly top?: number
  /** seconds since the profile's start */
  readonly from?: number
  readonly to?: number
}

const SPECIAL = new Set(["(garbage collector)", "(idle)", "(program)", "(root)"])

export const summarize = (file: string, options: SummaryOptions = {}): string => {
  const top = options.top ?? 25
  const out: string[] = []
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const key = (f: CallFrame) =>
    `${f.functionName || "(anonymous)"} ${shortUrl(f.url, f.lineNumber)}:${f.lineNumber + 1}`
  /** native builtins without a script count towards the area of the JS that called them */
  const areaOf = (id: number): string => {
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const frame = byId.get(n)!.callFrame
      if (frame.url !== "" || SPECIAL.has(frame.functionName)) return area(frame)
    }
    return area(byId.get(id)!.callFrame)
  }

  const fromUs = profile.startTime + (options.from ?? 0) * 1e6
  const toUs = options.to === undefined ? Infinity : profile.startTime + options.to * 1e6
  const selfUs = new Map<number, number>()
  // Long busy stretches (no idle sample in between) are what the event-loop delay shows.
  type Stretch = { start: number; us: number; areas: Map<string, number> }
  const stretches: Stretch[] = []
  let stretch: Stretch | undefined
  let clock = profile.startTime
  let spanUs = 0
  for (let i = 0; i < profile.samples.length; i++) {
    clock += profile.timeDeltas[i] ?? 0
    if (clock < fromUs || clock > toUs) continue
    // timeDeltas[i] is the time before sample i; the following delta belongs to sample i
    const dt = profile.timeDeltas[i + 1] ?? 0
    spanUs += dt
    const id = profile.samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt)
    if (byId.get(id)!.callFrame.functionName === "(idle)") {
      if (stretch) stretches.push(stretch)
      stretch = undefined
      continue
    }
    stretch ??= { start: clock, us: 0, areas: new Map() }
    stretch.us += dt
    const a = areaOf(id)
    stretch.areas.set(a, (stretch.areas.get(a) ?? 0) + dt)
  }
  if (stretch) stretches.push(stretch)

  let idleUs = 0
  const selfByFn = new Map<string, number>()
  const totalByFn = new Map<string, number>()
  const byArea = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame
    if (frame.functionName === "(idle)") {
      idleUs += us
      continue
    }
    selfByFn.set(key(frame), (selfByFn.get(key(frame)) ?? 0) + us)
    const a = areaOf(id)
    byArea.set(a, (byArea.get(a) ?? 0) + us)
    // inclusive time: once per distinct function on the stack
    const seen = new Set<string>()
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const k = key(byId.get(n)!.callFrame)
      if (seen.has(k)) continue
      seen.add(k)
      totalByFn.set(k, (totalByFn.get(k) ?? 0) + us)
    }
  }
  const busyUs = spanUs - idleUs

  const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1).padStart(5)}%`
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`
  const range =
    options.from === undefined && options.to === undefined
      ? "whole profile"
      : `+${(options.from ?? 0).toFixed(1)} s to +${options.to?.toFixed(1) ?? "end"}`
  out.push(
    `${file} (${range}): ${(spanUs / 1e6).toFixed(1)} s, ${(busyUs / 1e6).toFixed(2)} s busy = ` +
      `${((100 * busyUs) / spanUs).toFixed(1)}% of one core; shares below are of busy time`,
    "",
    "By area (self time; native builtins count towards their JS caller):"
  )
  for (const [name, us] of [...byArea].sort((a, b) => b[1] - a[1]))
    out.push(`  ${pct(us)} ${ms(us)}  ${name}`)
  out.push("", `Top ${top} functions by self time:`)
  for (const [name, us] of [...selfByFn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    out.push(`  ${pct(us)} ${ms(us)}  ${name}`)
  }
  out.push("", `Top ${top} functions by total (inclusive) time:`)
  for (const [name, us] of [...totalByFn]
    .filter(([k]) => !SPECIAL.has(k.split(" ")[0]!))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)) {
    out.push(`  ${pct(us)} ${ms(us)}  ${name}`)
  }
  out.push("", "Longest busy stretches (no idle sample in between), with their main areas:")
  for (const s of [...stretches].sort((a, b) => b.us - a.us).slice(0, 8)) {
    const areas = [...s.areas]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([name, us]) => `${name} ${(us / 1000).toFixed(0)}`)
      .join(", ")
    out.push(
      `  ${(s.us / 1000).toFixed(0).padStart(5)} ms at +${((s.start - profile.startTime) / 1e6).toFixed(2)} s: ${areas}`
    )
  }
  return out.join("\n")
}

interface HeapNode {
  readonly callFrame: CallFrame
  readonly selfSize: number
  readonly children: ReadonlyArray<HeapNode>
}

/**
 * Summarises a sampling heap profile (`--alloc-profile`): bytes allocated by area and by
 * function (V8 scales the samples to estimate every allocation, collected ones included).
 * `packets`, when given, turns totals into bytes per forwarded packet.
 */
export const summarizeAllocations = (
  file: string,
  options: { readonly top?: number; readonly packets?: number } = {}
): string => {
  const top = options.top ?? 20
  const { head } = JSON.parse(readFileSync(file, "utf8")) as { head: HeapNode }
  const byFn = new Map<string, number>()
  const byArea = new Map<string, number>()
  const byStack = new Map<string, number>()
  let total = 0
  const visit = (node: HeapNode, stack: ReadonlyArray<CallFrame>) => {
    const here = [...stack, node.callFrame]
    if (node.selfSize > 0) {
      total += node.selfSize
      const f = node.callFrame
      const k = `${f.functionName || "(anonymous)"} ${shortUrl(f.url, f.lineNumber)}:${f.lineNumber + 1}`
      byFn.set(k, (byFn.get(k) ?? 0) + node.selfSize)
      // natives and builtins count towards the nearest caller with a script
      const attributed = [...here].reverse().find((c) => c.url !== "") ?? f
      const a = area(attributed)
      byArea.set(a, (byArea.get(a) ?? 0) + node.selfSize)
      // the allocation's nearest Prism frame says which of our calls led to it
      const ours = [...here].reverse().find((c) => c.url.includes("/src/") && !c.url.includes("node_modules"))
      const via = ours ? `${ours.functionName || "(anonymous)"} ${shortUrl(ours.url)}` : "(no Prism frame)"
      byStack.set(via, (byStack.get(via) ?? 0) + node.selfSize)
    }
    for (const child of node.children) visit(child, here)
  }
  visit(head, [])
  const per = (bytes: number) =>
    options.packets
      ? `${(bytes / options.packets).toFixed(0).padStart(6)} B/pkt`
      : `${(bytes / 1e6).toFixed(1)} MB`
  const pct = (bytes: number) => `${((100 * bytes) / total).toFixed(1).padStart(5)}%`
  const out = [
    `${file}: ${(total / 1e6).toFixed(0)} MB allocated on the JS heap${options.packets ? `, ${(total / options.packets).toFixed(0)} bytes per forwarded packet` : ""}`,
    "",
    "By area:"
  ]
  for (const [k, v] of [...byArea].sort((a, b) => b[1] - a[1])) out.push(`  ${pct(v)} ${per(v)}  ${k}`)
  out.push("", "By the nearest Prism function on the stack:")
  for (const [k, v] of [...byStack].sort((a, b) => b[1] - a[1]).slice(0, 12))
    out.push(`  ${pct(v)} ${per(v)}  ${k}`)
  out.push("", `Top ${top} allocating functions:`)
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top))
    out.push(`  ${pct(v)} ${per(v)}  ${k}`)
  return out.join("\n")
}

const GC_SYMBOL =
  /v8::internal::(ConcurrentMarking|Marking|MarkCompact|MainMarking|Sweeper|Scavenger|Heap::|ArrayBufferSweeper|BodyDescriptor|HeapObject::SizeFromMap|JSFunction::NeedsResetDueToFlushedBytecode|Evacuat|RememberedSet|MinorMarkSweep|MemoryChunk|MutablePageMetadata|PagedSpace|FreeList|WriteBarrier|IncrementalMarking|LargeObjectSpace|GCTracer|Page|.*Visitor)|Builtins_RecordWrite/

/** Which part of the server a perf symbol belongs to. */
const perfCategory = (dso: string, kernel: boolean, symbol: string): string => {
  if (kernel) return "kernel (UDP send/receive on loopback, syscalls, scheduling)"
  if (dso.startsWith("[JIT]")) {
    // "JS:*'name file:///…/x.mjs:LINE:COL" (V8's perf map)
    const match = /^JS:\S?'?(.*?) ((?:file|node):\S+?):(\d+):\d+$/.exec(symbol)
    if (!match) return "JIT code (other)"
    return `JS: ${area({ functionName: match[1] ?? "", url: match[2]!, lineNumber: Number(match[3]) - 1 })}`
  }
  if (dso.startsWith("libc")) return "libc (malloc/free, memcpy)"
  if (GC_SYMBOL.test(symbol))
    return "V8 garbage collection (incl. concurrent marking threads, write barriers)"
  if (/ossl_|EVP_|evp_|OPENSSL|CRYPTO_|aesni|aes_|gcm|ghash|OSSL_|ERR_|HMAC|sha\d|ossl/.test(symbol))
    return "OpenSSL (cipher set-up and AES-GCM)"
  if (symbol.startsWith("node::")) return "Node C++ (crypto/buffer/udp bindings)"
  if (/^uv_|^uv__/.test(symbol)) return "libuv"
  if (/Builtins_|Runtime_|v8::internal::|v8::/.test(symbol))
    return "V8 runtime, builtins, interpreter (unattributed JS)"
  return `other (${dso})`
}

/** A `perf record` profile of the server: self time by category and the top symbols. */
export const summarizePerf = (file: string, top = 30): string => {
  const raw = execFileSync(
    "perf",
    ["report", "-i", file, "--no-children", "--sort", "dso,sym", "--stdio", "-q", "--percent-limit", "0"],
    { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, stdio: ["ignore", "pipe", "ignore"] }
  )
  const rows: Array<{ pct: number; dso: string; symbol: string; kernel: boolean }> = []
  for (const line of raw.split("\n")) {
    const match = /^\s*([\d.]+)%\s+(\[JIT\] tid \d+|\S+)\s+\[([.k])\]\s+(.*)$/.exec(line)
    if (match)
      rows.push({ pct: Number(match[1]), dso: match[2]!, kernel: match[3] === "k", symbol: match[4]!.trim() })
  }
  const byCategory = new Map<string, number>()
  for (const row of rows) {
    const category = perfCategory(row.dso, row.kernel, row.symbol)
    byCategory.set(category, (byCategory.get(category) ?? 0) + row.pct)
  }
  const out = [
    `${file}: on-CPU samples of the server process (all its threads), self time`,
    "",
    "By category:"
  ]
  for (const [name, pct] of [...byCategory].sort((a, b) => b[1] - a[1])) {
    if (pct >= 0.3) out.push(`  ${pct.toFixed(1).padStart(5)}%  ${name}`)
  }
  out.push("", `Top ${top} symbols:`)
  for (const row of rows.slice(0, top)) {
    const symbol = row.symbol
      .replace(/file:\/\/\/\S*node_modules\//, "")
      .replace(/file:\/\/\/\S*?\/src\//, "src/")
    out.push(
      `  ${row.pct.toFixed(2).padStart(6)}%  ${row.dso.startsWith("[JIT]") ? "[JIT]" : row.dso}  ${symbol.slice(0, 150)}`
    )
  }
  return out.join("\n")
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  const args = process.argv.slice(2)
  const file = args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--"))
  if (!file) {
    console.error("usage: tsx bench/profile-summary.ts <file.cpuprofile> [--top N] [--from s] [--to s]")
    process.exit(2)
  }
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`)
    return i >= 0 ? Number(args[i + 1]) : undefined
  }
  const options: { top?: number; from?: number; to?: number } = {}
  const top = flag("top")
  const from = flag("from")
  const to = flag("to")
  if (top !== undefined) options.top = top
  if (from !== undefined) options.from = from
  if (to !== undefined) options.to = to
  if (file.endsWith(".perf.data")) {
    console.log(summarizePerf(file, top ?? 30))
  } else if (file.endsWith(".heapprofile")) {
    const packets = flag("packets")
    console.log(
      summarizeAllocations(file, packets === undefined ? { top: top ?? 20 } : { top: top ?? 20, packets })
    )
  } else {
    console.log(summarize(file, options))
  }
}
