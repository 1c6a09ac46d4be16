import type { PrismConfigShape } from "../../src/config.ts"
import type { BuggifySite } from "../../src/fault/buggify.ts"
import type { MediaCounters } from "../../src/observability/media-counters.ts"
import type { SimClient } from "../clients/sim-client.ts"
import type { Ledger } from "../observe/ledger.ts"

/** Everything the end-of-run oracles judge. */
export interface OracleContext {
  readonly ledger: Ledger
  readonly clients: ReadonlyArray<SimClient>
  readonly config: PrismConfigShape
  readonly counters: MediaCounters
  /** How often each injected fault fired; undefined when buggify was off. */
  readonly buggify: Readonly<Record<BuggifySite, number>> | undefined
}

export const fired = (context: OracleContext, site: BuggifySite): number => context.buggify?.[site] ?? 0
