import { checkBoundedCost } from "./bounded-cost.ts"
import type { OracleContext } from "./context.ts"
import { checkIsolation } from "./isolation.ts"
import { checkSlotOutput } from "./slot-output.ts"
import type { Violation } from "./violation.ts"

/** The oracles judged from the record of a whole run (liveness, fault isolation and clean-up run as steps). */
export const checkRun = (context: OracleContext): Violation[] => [
  ...checkIsolation(context),
  ...checkSlotOutput(context),
  ...checkBoundedCost(context)
]
