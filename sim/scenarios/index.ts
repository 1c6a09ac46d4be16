import { bweScenarios } from "../bwe/scenarios.ts"
import type { Scenario } from "../run.ts"
import { busyRoom, twoPeers } from "./basics.ts"
import {
  churnStorm,
  closeNotify,
  crashAndTimeout,
  iceRestart,
  longPartitionRejoin,
  partitionHeal,
  rejoinWithGhost
} from "./connectivity.ts"
import { slowSubscriber, stuckSubscriber, twoRooms, whipToWhep } from "./isolation.ts"
import {
  congestedCellular,
  publisherLoss30,
  reorderAndDuplicate,
  subscriberLoss30,
  wifiBurstLoss
} from "./loss.ts"
import { buggifyBusyRoom, componentFailures, productionTimeouts } from "./production.ts"
import { regressionScenarios } from "./regressions.ts"
import { codecMismatch, keyframeRequestStorm, simulcastReorderedUplink, simulcastSwitching } from "./video.ts"

/** The scenarios `named.test.ts` runs; a regression carries the seed that found it. */
export const coreScenarios: ReadonlyArray<Scenario & { readonly seed?: number }> = [
  twoPeers,
  busyRoom,
  partitionHeal,
  longPartitionRejoin,
  iceRestart,
  crashAndTimeout,
  closeNotify,
  rejoinWithGhost,
  churnStorm,
  subscriberLoss30,
  publisherLoss30,
  wifiBurstLoss,
  reorderAndDuplicate,
  congestedCellular,
  twoRooms,
  stuckSubscriber,
  slowSubscriber,
  whipToWhep,
  simulcastSwitching,
  simulcastReorderedUplink,
  keyframeRequestStorm,
  codecMismatch,
  productionTimeouts,
  buggifyBusyRoom,
  componentFailures,
  ...regressionScenarios
]

/** Every named scenario: the core ones and the bandwidth-adaptation ones (judged in `sim/bwe/`). */
export const namedScenarios: ReadonlyArray<Scenario & { readonly seed?: number }> = [
  ...coreScenarios,
  ...bweScenarios
]

export const scenarioNamed = (name: string) => namedScenarios.find((s) => s.name === name)
