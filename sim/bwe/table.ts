import type { BweReport } from "./bwe-report.ts"
import type { AdaptationEvent, SubscriberMeasurement } from "./measurements.ts"

/** The measurements of one BWE run as a Markdown table, one row per subscriber. */

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const percent = (x: number | undefined) => (x === undefined ? "—" : `${(x * 100).toFixed(0)} %`)

const capacity = (m: SubscriberMeasurement): string => {
  const values = m.record.capacity.filter((p) => p.atMs <= m.record.to).map((p) => p.kbps)
  const label = (kbps: number | undefined) => (kbps === undefined ? "uncapped" : `${kbps}`)
  if (values.length <= 4) return values.map(label).join(" → ")
  const capped = values.filter((v): v is number => v !== undefined)
  return `${label(values[0])} ↘ ${Math.min(...capped)} ↗ ${label(values.at(-1))} (sliding)`
}

const responses = (
  events: ReadonlyArray<AdaptationEvent>,
  direction: AdaptationEvent["direction"]
): string => {
  const chosen = events.filter((e) => e.direction === direction)
  if (chosen.length === 0) return "—"
  return chosen
    .map((e) => {
      const after = e.responseMs === undefined ? "never" : seconds(e.responseMs)
      return e.cause === "capacity" ? after : `${after} (${e.cause})`
    })
    .join(", ")
}

const layers = (report: BweReport, m: SubscriberMeasurement): string =>
  report.layers.map((l) => `${l.rid ?? l.layer} ${percent(m.layerShare.get(l.layer) ?? 0)}`).join(" · ")

export const HEADER = [
  "subscriber",
  "downlink kbit/s",
  "media kbit/s",
  "utilization",
  "layers shown",
  "switches",
  "longest freeze",
  "PLIs sent / at encoder",
  "audio delivered",
  "down-switch after",
  "up-switch after"
]

export const rows = (report: BweReport): string[][] =>
  report.subscribers.map((m) => [
    m.subscriber,
    capacity(m),
    m.mediaKbps.toFixed(0),
    percent(m.utilization),
    layers(report, m),
    String(m.switches.length),
    seconds(m.longestFreezeMs),
    `${m.record.plisSent} / ${m.record.keyframeRequestsAtPublisher}`,
    m.audioDelivery === undefined ? "—" : `${(m.audioDelivery * 100).toFixed(1)} %`,
    responses(m.events, "down"),
    responses(m.events, "up")
  ])

export const markdownTable = (report: BweReport): string => {
  const line = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`
  return [line(HEADER), line(HEADER.map(() => "---")), ...rows(report).map(line)].join("\n")
}
