/**
 * Just enough of the Prometheus text format for the benchmark: samples keyed by name and
 * labels, counter deltas, and quantiles from histogram bucket deltas.
 */

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export type Scrape = ReadonlyArray<Sample>

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

export const parsePrometheus = (text: string): Scrape => {
  const samples: Sample[] = []
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const match = LINE.exec(line)
    if (!match) continue
    const labels: Record<string, string> = {}
    for (const label of (match[3] ?? "").matchAll(LABEL)) labels[label[1]!] = label[2]!
    const raw = match[4]!
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw)
    samples.push({ name: match[1]!, labels, value })
  }
  return samples
}

const matches = (sample: Sample, labels: Record<string, string>) =>
  Object.entries(labels).every(([k, v]) => sample.labels[k] === v)

/** Sum of every sample named `name` whose labels include `labels` (0 when absent). */
export const value = (scrape: Scrape, name: string, labels: Record<string, string> = {}): number => {
  let total = 0
  for (const sample of scrape) if (sample.name === name && matches(sample, labels)) total += sample.value
  return total
}

export const has = (scrape: Scrape, name: string): boolean => scrape.some((s) => s.name === name)

/** Every distinct value of `label` on samples named `name`, with the value. */
export const byLabel = (scrape: Scrape, name: string, label: string): Record<string, number> => {
  const result: Record<string, number> = {}
  for (const sample of scrape) {
    if (sample.name !== name) continue
    const key = sample.labels[label] ?? ""
    result[key] = (result[key] ?? 0) + sample.value
  }
  return result
}

export interface Bucket {
  /** upper bound in the metric's unit; Infinity for +Inf */
  readonly le: number
  /** cumulative count */
  readonly count: number
}

export const buckets = (scrape: Scrape, histogram: string): Bucket[] => {
  const result: Bucket[] = []
  for (const sample of scrape) {
    if (sample.name !== `${histogram}_bucket`) continue
    const le = sample.labels["le"]
    if (le === undefined) continue
    result.push({ le: le === "+Inf" ? Infinity : Number(le), count: sample.value })
  }
  return result.sort((a, b) => a.le - b.le)
}

/** Cumulative bucket counts of `after` minus `before` (the observations between two scrapes). */
export const bucketDelta = (before: ReadonlyArray<Bucket>, after: ReadonlyArray<Bucket>): Bucket[] =>
  after.map((b) => ({ le: b.le, count: b.count - (before.find((x) => x.le === b.le)?.count ?? 0) }))

export interface Quantile {
  readonly value: number
  /** true when the quantile lies in the +Inf bucket: `value` is then only a lower bound */
  readonly aboveLastBound: boolean
}

/**
 * Linear interpolation inside the bucket holding the quantile, as Prometheus's
 * `histogram_quantile` does (the first bucket's lower bound is 0).
 */
export const histogramQuantile = (q: number, cumulative: ReadonlyArray<Bucket>): Quantile | undefined => {
  const total = cumulative.at(-1)?.count ?? 0
  if (total <= 0) return undefined
  const rank = q * total
  let lower = 0
  let below = 0
  for (const bucket of cumulative) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return { value: lower, aboveLastBound: true }
      const inBucket = bucket.count - below
      const fraction = inBucket > 0 ? (rank - below) / inBucket : 1
      return { value: lower + (bucket.le - lower) * fraction, aboveLastBound: false }
    }
    lower = bucket.le
    below = bucket.count
  }
  return { value: lower, aboveLastBound: true }
}
