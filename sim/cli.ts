import { markdownTable } from "./bwe/table.ts"
import { specForSeed } from "./chaos/arbitrary.ts"
import { chaosScenario } from "./chaos/interpret.ts"
import type { ChaosSpec } from "./chaos/spec.ts"
import { type RunReport, runScenario, type Scenario } from "./run.ts"
import { namedScenarios, scenarioNamed } from "./scenarios/index.ts"

const usage = `usage:
  npm run sim -- --list
  npm run sim -- --scenario <name> [--seed <n>] [--buggify] [--trace]
  npm run sim -- --chaos <seed> [--trace]                    the generated scenario of a seed
  npm run sim -- --spec '<json>' --seed <n> [--trace]        a (shrunk) generated scenario`

const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(`--${name}`)
const option = (name: string) => {
  const index = argv.indexOf(`--${name}`)
  return index >= 0 ? argv[index + 1] : undefined
}

const fail = (message: string): never => {
  console.error(message)
  console.error(usage)
  process.exit(2)
}

const pick = (): { scenario: Scenario; seed: number } => {
  const seedOption = option("seed")
  const seed = seedOption === undefined ? undefined : Number(seedOption)
  if (seed !== undefined && !Number.isSafeInteger(seed)) fail(`--seed must be an integer, got ${seedOption}`)
  const chaos = option("chaos")
  if (chaos !== undefined) {
    const n = Number(chaos)
    return { scenario: chaosScenario(specForSeed(n), `chaos-${n}`), seed: seed ?? n }
  }
  const spec = option("spec")
  if (spec !== undefined)
    return { scenario: chaosScenario(JSON.parse(spec) as ChaosSpec, "spec"), seed: seed ?? 1 }
  const name = option("scenario") ?? fail("say which scenario")
  const scenario = scenarioNamed(name) ?? fail(`no scenario named ${name}; --list shows them`)
  return { scenario, seed: seed ?? (scenario as { seed?: number }).seed ?? 1 }
}

const summary = (report: RunReport, hostMs: number): string[] => {
  const s = report.stats
  const lines = [
    `scenario: ${report.scenario}`,
    `seed: ${report.seed}`,
    `simulated: ${(report.simulatedMs / 1000).toFixed(1)} s in ${(hostMs / 1000).toFixed(2)} s of host time`,
    `clients: ${s.clients}, sessions: ${s.sessions}`,
    `packets: ${s.packetsIn} in, ${s.packetsOut} out, ${s.retransmissions} retransmitted; ` +
      `${s.nacksToPublishers} NACKed to publishers, ${s.keyframeRequestsToPublishers} keyframe requests`,
    ...report.clients.map(
      (c) =>
        `  ${c.name}: ${c.sessions} session(s), ${c.packets} packets (${c.retransmissions} resent), ` +
        `${c.frames} frames, longest freeze ${c.longestFreezeMs} ms, ${c.nacks} NACKed, ${c.keyframeRequests} PLIs`
    ),
    `buggify: ${
      report.buggify
        ? Object.entries(report.buggify)
            .map(([site, n]) => `${site}=${n}`)
            .join(" ")
        : "off"
    }`
  ]
  if (report.bwe) lines.push("bandwidth adaptation:", markdownTable(report.bwe))
  if (report.violations.length === 0) lines.push("oracles: all hold")
  else {
    lines.push(`violations: ${report.violations.length}`)
    for (const v of report.violations) lines.push(`  ${v.oracle}: ${v.message}`)
  }
  lines.push(`trace lines: ${report.traceLines}`, `trace=${report.trace}`)
  return lines
}

if (flag("list")) {
  for (const scenario of namedScenarios) console.log(scenario.name)
} else if (flag("help") || argv.length === 0) {
  console.log(usage)
} else {
  const { scenario, seed } = pick()
  // Host time only measures how fast the simulation ran; nothing inside it reads a real clock.
  const started = process.hrtime.bigint()
  const report = await runScenario(scenario, {
    seed,
    ...(flag("buggify") ? { buggify: true } : {}),
    ...(flag("trace") ? { sink: (line: string) => console.log(line) } : {})
  })
  const hostMs = Number(process.hrtime.bigint() - started) / 1e6
  for (const line of summary(report, hostMs)) console.log(line)
  process.exitCode = report.violations.length === 0 ? 0 : 1
}
