/**
 * Compares two V8 heap snapshots of the same process (`npm run bench -- --soak churn
 * --heap-snapshots` writes one per round): which kinds of objects there are more of, and,
 * since V8 keeps an object's id across snapshots of one process, which objects in the second
 * did not exist in the first and what keeps them alive.
 *
 *   node --max-old-space-size=4096 --import tsx bench/heap-diff.ts <a.heapsnapshot> <b.heapsnapshot>
 *        [--top 30] [--retainers <class>] [--paths 3] [--depth 14] [--owners <class>]
 *
 * `--retainers <class>` prints, for a few objects of that class that are new in b, the
 * shortest strong path from a GC root to each (weak edges are not followed). `--owners <class>`
 * sums the size of all such objects by their owner: the nearest object up that path whose
 * class is an application class (not Object, Array, Map, a Buffer or a V8 internal).
 */
import { readFileSync } from "node:fs"

interface RawSnapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: ReadonlyArray<string>
      readonly node_types: ReadonlyArray<ReadonlyArray<string> | string>
      readonly edge_fields: ReadonlyArray<string>
      readonly edge_types: ReadonlyArray<ReadonlyArray<string> | string>
    }
  }
  readonly nodes: ReadonlyArray<number>
  readonly edges: ReadonlyArray<number>
  readonly strings: ReadonlyArray<string>
}

/** A parsed snapshot: nodes by ordinal, their class, id, size and outgoing edges. */
class HeapSnapshot {
  readonly count: number
  readonly ids: Float64Array
  readonly sizes: Float64Array
  readonly classes: string[]
  readonly firstEdge: Uint32Array
  readonly edgeTargets: Uint32Array
  readonly edgeTypes: Uint8Array
  readonly edgeNames: string[]
  readonly weakEdgeType: number

  constructor(file: string) {
    const raw = JSON.parse(readFileSync(file, "utf8")) as RawSnapshot
    const meta = raw.snapshot.meta
    const nodeFieldCount = meta.node_fields.length
    const edgeFieldCount = meta.edge_fields.length
    const nodeTypes = meta.node_types[0] as ReadonlyArray<string>
    const edgeTypes = meta.edge_types[0] as ReadonlyArray<string>
    const field = (name: string) => meta.node_fields.indexOf(name)
    const [typeAt, nameAt, idAt, sizeAt, edgeCountAt] = ["type", "name", "id", "self_size", "edge_count"].map(
      field
    )
    const edgeTypeAt = meta.edge_fields.indexOf("type")
    const edgeNameAt = meta.edge_fields.indexOf("name_or_index")
    const edgeToAt = meta.edge_fields.indexOf("to_node")
    this.weakEdgeType = edgeTypes.indexOf("weak")
    const nodes = raw.nodes
    const edges = raw.edges
    this.count = nodes.length / nodeFieldCount
    this.ids = new Float64Array(this.count)
    this.sizes = new Float64Array(this.count)
    this.classes = new Array(this.count)
    this.firstEdge = new Uint32Array(this.count + 1)
    const edgeCount = edges.length / edgeFieldCount
    this.edgeTargets = new Uint32Array(edgeCount)
    this.edgeTypes = new Uint8Array(edgeCount)
    this.edgeNames = new Array(edgeCount)
    let edge = 0
    for (let n = 0; n < this.count; n++) {
      const base = n * nodeFieldCount
      const type = nodeTypes[nodes[base + typeAt!]!]!
      const name = raw.strings[nodes[base + nameAt!]!]!
      this.ids[n] = nodes[base + idAt!]!
      this.sizes[n] = nodes[base + sizeAt!]!
      this.classes[n] = classOf(type, name)
      this.firstEdge[n] = edge
      const edgesOfNode = nodes[base + edgeCountAt!]!
      for (let e = 0; e < edgesOfNode; e++, edge++) {
        const eb = edge * edgeFieldCount
        const edgeType = edges[eb + edgeTypeAt]!
        this.edgeTypes[edge] = edgeType
        this.edgeTargets[edge] = edges[eb + edgeToAt]! / nodeFieldCount
        const nameOrIndex = edges[eb + edgeNameAt]!
        const typeName = edgeTypes[edgeType]
        this.edgeNames[edge] =
          typeName === "element" || typeName === "hidden" ? `[${nameOrIndex}]` : raw.strings[nameOrIndex]!
      }
    }
    this.firstEdge[this.count] = edge
  }

  /** For every node, the node it was first reached from by a breadth-first walk of strong edges from the root. */
  shortestRetainers(): { readonly parent: Int32Array; readonly viaEdge: Int32Array } {
    const parent = new Int32Array(this.count).fill(-1)
    const viaEdge = new Int32Array(this.count).fill(-1)
    const queue = new Uint32Array(this.count)
    let head = 0
    let tail = 0
    queue[tail++] = 0
    parent[0] = 0
    while (head < tail) {
      const n = queue[head++]!
      for (let e = this.firstEdge[n]!; e < this.firstEdge[n + 1]!; e++) {
        if (this.edgeTypes[e] === this.weakEdgeType) continue
        const to = this.edgeTargets[e]!
        if (parent[to] !== -1) continue
        parent[to] = n
        viaEdge[to] = e
        queue[tail++] = to
      }
    }
    return { parent, viaEdge }
  }
}

const classOf = (type: string, name: string): string => {
  switch (type) {
    case "object":
      return name
    case "closure":
      return `(closure ${name || "anonymous"})`
    case "string":
    case "concatenated string":
    case "sliced string":
      return "(string)"
    case "code":
      return "(code)"
    case "array":
      return `(array ${name})`
    default:
      return `(${type}${name ? ` ${name.slice(0, 40)}` : ""})`
  }
}

interface Tally {
  count: number
  bytes: number
}

const tallyByClass = (snapshot: HeapSnapshot, include: (n: number) => boolean = () => true) => {
  const tallies = new Map<string, Tally>()
  for (let n = 0; n < snapshot.count; n++) {
    if (!include(n)) continue
    const key = snapshot.classes[n]!
    const t = tallies.get(key) ?? { count: 0, bytes: 0 }
    t.count++
    t.bytes += snapshot.sizes[n]!
    tallies.set(key, t)
  }
  return tallies
}

const parseArgs = (argv: ReadonlyArray<string>) => {
  const files: string[] = []
  const flags: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg.startsWith("--")) flags[arg.slice(2)] = argv[++i] ?? ""
    else files.push(arg)
  }
  if (files.length !== 2) {
    console.error(readFileSync(import.meta.filename, "utf8").split("*/")[0])
    process.exit(2)
  }
  return {
    before: files[0]!,
    after: files[1]!,
    top: Number(flags["top"] ?? 30),
    retainers: flags["retainers"],
    owners: flags["owners"],
    paths: Number(flags["paths"] ?? 3),
    depth: Number(flags["depth"] ?? 14)
  }
}

const kb = (bytes: number) => (bytes / 1024).toFixed(1)

const GENERIC_CLASSES = new Set([
  "Object",
  "Array",
  "Map",
  "Set",
  "ArrayBuffer",
  "Uint8Array",
  "Buffer",
  "FastBuffer"
])

/** Whether a class names something of the program (a constructor), not a container or a V8 internal. */
const isApplicationClass = (name: string) => /^_?[A-Z][A-Za-z0-9_]*$/.test(name) && !GENERIC_CLASSES.has(name)

const main = () => {
  const args = parseArgs(process.argv.slice(2))
  const a = new HeapSnapshot(args.before)
  const b = new HeapSnapshot(args.after)
  const idsInA = new Set<number>()
  for (let n = 0; n < a.count; n++) idsInA.add(a.ids[n]!)
  const isNew = (n: number) => !idsInA.has(b.ids[n]!)

  const total = (s: HeapSnapshot) => s.sizes.reduce((sum, x) => sum + x, 0)
  console.log(`${args.before}: ${a.count} objects, ${kb(total(a))} KB`)
  console.log(`${args.after}: ${b.count} objects, ${kb(total(b))} KB`)

  const inA = tallyByClass(a)
  const inB = tallyByClass(b)
  const fresh = tallyByClass(b, isNew)
  const rows = [...new Set([...inA.keys(), ...inB.keys()])].map((key) => {
    const x = inA.get(key) ?? { count: 0, bytes: 0 }
    const y = inB.get(key) ?? { count: 0, bytes: 0 }
    const f = fresh.get(key) ?? { count: 0, bytes: 0 }
    return {
      key,
      countA: x.count,
      countB: y.count,
      bytesDelta: y.bytes - x.bytes,
      newCount: f.count,
      newBytes: f.bytes
    }
  })
  console.log(`\nBy class, largest growth in bytes first (top ${args.top}):\n`)
  console.log("| class | count a | count b | Δ KB | new in b (count / KB) |")
  console.log("|---|---|---|---|---|")
  for (const r of [...rows].sort((x, y) => y.bytesDelta - x.bytesDelta).slice(0, args.top)) {
    console.log(
      `| ${r.key} | ${r.countA} | ${r.countB} | ${kb(r.bytesDelta)} | ${r.newCount} / ${kb(r.newBytes)} |`
    )
  }
  console.log(`\nObjects new in b that survive, by class (top ${args.top}):\n`)
  console.log("| class | new objects | KB |")
  console.log("|---|---|---|")
  for (const r of [...rows].sort((x, y) => y.newBytes - x.newBytes).slice(0, args.top)) {
    if (r.newCount > 0) console.log(`| ${r.key} | ${r.newCount} | ${kb(r.newBytes)} |`)
  }

  if (args.retainers === undefined && args.owners === undefined) return
  const retainers = b.shortestRetainers()
  const path = (n: number, depth: number, stopAt?: number) => {
    const steps: string[] = []
    let at = n
    for (let d = 0; d < depth && at !== 0; d++) {
      if (retainers.parent[at] === -1) {
        steps.push("(unreachable from the root by strong edges)")
        break
      }
      steps.push(`${b.classes[at]} @${b.ids[at]} ◀─ .${b.edgeNames[retainers.viaEdge[at]!]} ─`)
      if (at === stopAt) break
      at = retainers.parent[at]!
    }
    return steps
  }
  if (args.owners !== undefined) {
    const byOwner = new Map<string, Tally & { example: number; owner: number }>()
    for (let n = 0; n < b.count; n++) {
      if (b.classes[n] !== args.owners || !isNew(n)) continue
      let at = n
      let owner = -1
      for (let depth = 0; depth < 40 && at !== 0 && retainers.parent[at] !== -1; depth++) {
        at = retainers.parent[at]!
        if (isApplicationClass(b.classes[at]!)) {
          owner = at
          break
        }
      }
      const key = owner < 0 ? "(no application owner)" : b.classes[owner]!
      const t = byOwner.get(key) ?? { count: 0, bytes: 0, example: n, owner }
      t.count++
      t.bytes += b.sizes[n]!
      byOwner.set(key, t)
    }
    const ranked = [...byOwner].sort((x, y) => y[1].bytes - x[1].bytes).slice(0, args.top)
    console.log(`\nNew ${args.owners} in b by owner (top ${args.top}):\n`)
    console.log("| owner | objects | KB |")
    console.log("|---|---|---|")
    for (const [key, t] of ranked) console.log(`| ${key} | ${t.count} | ${kb(t.bytes)} |`)
    for (const [key, t] of ranked.slice(0, args.paths)) {
      console.log(`\nan example under ${key}:`)
      for (const step of path(t.example, args.depth, t.owner)) console.log(`  ${step}`)
    }
  }
  if (args.retainers === undefined) return
  let shown = 0
  for (let n = 0; n < b.count && shown < args.paths; n++) {
    if (b.classes[n] !== args.retainers || !isNew(n)) continue
    shown++
    console.log(`\nretainers of ${args.retainers} @${b.ids[n]}:`)
    for (const step of path(n, args.depth)) console.log(`  ${step}`)
  }
}

main()
