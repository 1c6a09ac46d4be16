import type { LayerInfo } from "./layer-monitor.ts"

/** What the subscriber asked for one of its video slots. */
export interface SlotPreferences {
  /** Wanted picture height; rounds up to the next layer (360 gets the 360 layer, else the next larger). */
  readonly maxHeight?: number | undefined
  /** The slot is not worth showing below this height: its minimum is the lowest layer meeting it. */
  readonly minHeight?: number | undefined
  /** Higher is served first; ties go by key. Default 0. */
  readonly priority?: number | undefined
  /** The client asked not to receive this slot. */
  readonly paused?: boolean | undefined
}

/** One video slot of the subscriber, as it stands at this evaluation. */
export interface SlotDemand {
  readonly key: string
  /** The flowing layers of the slot's track, lowest quality first (`LayerMonitor.flowingLayers`). */
  readonly layers: ReadonlyArray<LayerInfo>
  /** The layer the slot forwards now (`LayerSwitcher.currentSsrc`). */
  readonly currentSsrc: number | undefined
  readonly preferences: SlotPreferences
}

export interface AllocationInput {
  readonly nowMs: number
  /** The subscriber's bandwidth estimate; undefined when unknown (then each slot gets its best layer). */
  readonly budgetBps: number | undefined
  /** What the subscriber's audio takes; reserved before any video. */
  readonly audioBps: number
  readonly slots: ReadonlyArray<SlotDemand>
}

export type PauseReason = "bandwidth" | "client" | "no-layers"

export type SlotAllocation =
  | {
      readonly _tag: "Forward"
      readonly key: string
      readonly ssrc: number
      /** Index into the slot's `layers`. */
      readonly layerIndex: number
      readonly bitrateBps: number
      /** Chosen by `force`, not by the budget. */
      readonly forced: boolean
    }
  | { readonly _tag: "Paused"; readonly key: string; readonly reason: PauseReason }

export interface Allocation {
  /** One entry per input slot, in input order. */
  readonly slots: ReadonlyArray<SlotAllocation>
  /** Sum of the chosen layers' bitrates. */
  readonly videoBps: number
  /** What video may use: budget less the reserve and the audio; undefined when the budget is unknown. */
  readonly availableBps: number | undefined
}

/**
 * Part of the estimate never handed out, for estimation error and retransmissions. Small: the
 * estimate itself already sits below capacity (a congestion cut lands at 85 % of it), and a
 * lowest layer that needs 80 % of a thin link must still fit after such a cut.
 */
export const RESERVE = 0
/** An up-switch may take at most this share of the budget still unused... */
export const UPGRADE_HEADROOM = 0.75
/**
 * ...and must leave the whole video allocation at most this share of what video may use:
 * measured rates that wobble by ±10 % can then grow by 1.1 / 0.9 without forcing a switch down.
 */
export const UPGRADE_FILL = 0.8
/** A slot switches up at most once per this long; down-switches under congestion never wait. */
export const SWITCH_HOLD_MS = 5000
/**
 * A slot paused for bandwidth comes back (to its minimum, once that fits) this long after the
 * pause at the earliest: no picture at all is worse than a brief one, so it waits less than an
 * up-switch, yet a link that cannot hold the minimum pauses it again at most this often.
 */
export const RESUME_HOLD_MS = 2000

interface SlotState {
  /** What the allocator last chose; undefined while paused or before the first choice. */
  target: number | undefined
  pausedForBandwidth: boolean
  lastSwitchMs: number | undefined
  forced: number | undefined
}

interface Plan {
  readonly demand: SlotDemand
  readonly state: SlotState
  readonly priority: number
  readonly minIndex: number
  readonly maxIndex: number
  /** Index of the layer the slot has now (its last target, else what it forwards); -1 if none. */
  readonly reference: number
  readonly holdElapsed: boolean
  readonly resumeHoldElapsed: boolean
  /** Chosen index; -1 while paused. */
  index: number
  forced: boolean
}

/** Lowest index whose height reaches `height`; `fallback` when no layer's height is known to reach it. */
const firstReaching = (layers: ReadonlyArray<LayerInfo>, height: number, fallback: number): number => {
  const index = layers.findIndex((layer) => layer.height !== undefined && layer.height >= height)
  return index < 0 ? fallback : index
}

/** A forwarded slot below its ceiling whose layer is under `index`. */
const wantsMoreBelow = (plan: Plan, index: number): boolean =>
  plan.index >= 0 && plan.index < plan.maxIndex && plan.index < index

const indexOf = (layers: ReadonlyArray<LayerInfo>, ssrc: number | undefined): number =>
  ssrc === undefined ? -1 : layers.findIndex((layer) => layer.ssrc === ssrc)

/**
 * Splits one subscriber's bandwidth estimate across its video slots. Each evaluation: keep a
 * reserve and the audio's share; in priority order give every slot its minimum layer (or
 * pause it when even that does not fit); then raise slots one layer per pass, round-robin
 * within a priority tier (so equal slots share equally), higher tiers first: first back up
 * to the layer each already has, then beyond it. Staying needs only to fit;
 * going up needs headroom and waits `SWITCH_HOLD_MS` after the slot's last switch; when the
 * layers no longer fit, slots go down at once, to where they fit with that same headroom. A
 * slot paused for bandwidth comes back to its minimum as soon as that fits again, after
 * `RESUME_HOLD_MS`.
 * So a drop in the estimate takes effect on the next evaluation, and a steady one does not
 * make layers flap.
 */
export class LayerAllocator {
  private readonly states = new Map<string, SlotState>()

  /** Pins a slot to one layer whatever the budget (while that layer flows), until cleared with undefined. */
  force(slotKey: string, ssrc: number | undefined): void {
    this.stateOf(slotKey).forced = ssrc
  }

  allocate(input: AllocationInput): Allocation {
    const { nowMs } = input
    const results = new Map<string, SlotAllocation>()
    const plans: Plan[] = []
    for (const demand of input.slots) {
      if (results.has(demand.key) || plans.some((plan) => plan.demand.key === demand.key)) continue
      const state = this.stateOf(demand.key)
      const layers = demand.layers.filter((layer) => layer.flowing)
      if (demand.preferences.paused) {
        results.set(demand.key, { _tag: "Paused", key: demand.key, reason: "client" })
        continue
      }
      if (layers.length === 0) {
        results.set(demand.key, { _tag: "Paused", key: demand.key, reason: "no-layers" })
        continue
      }
      const top = layers.length - 1
      const { maxHeight, minHeight } = demand.preferences
      const maxIndex = maxHeight === undefined ? top : firstReaching(layers, maxHeight, top)
      const minIndex = Math.min(maxIndex, minHeight === undefined ? 0 : firstReaching(layers, minHeight, top))
      const fromTarget = indexOf(layers, state.target)
      plans.push({
        demand: { ...demand, layers },
        state,
        priority: demand.preferences.priority ?? 0,
        minIndex,
        maxIndex,
        reference: fromTarget >= 0 ? fromTarget : indexOf(layers, demand.currentSsrc),
        holdElapsed: state.lastSwitchMs === undefined || nowMs - state.lastSwitchMs >= SWITCH_HOLD_MS,
        resumeHoldElapsed: state.lastSwitchMs === undefined || nowMs - state.lastSwitchMs >= RESUME_HOLD_MS,
        index: -1,
        forced: false
      })
    }
    plans.sort((a, b) => b.priority - a.priority || (a.demand.key < b.demand.key ? -1 : 1))

    const budget = input.budgetBps
    const audio = Number.isFinite(input.audioBps) ? Math.max(0, input.audioBps) : 0
    const available =
      budget === undefined || !Number.isFinite(budget)
        ? undefined
        : Math.max(0, budget * (1 - RESERVE) - audio)
    const unforced = plans.filter((plan) => !this.applyForce(plan))
    if (available === undefined) this.chooseUnbounded(unforced)
    else this.chooseWithin(unforced, available - plans.reduce((sum, plan) => sum + this.forcedCost(plan), 0))

    let videoBps = 0
    for (const plan of plans) {
      const key = plan.demand.key
      if (plan.index < 0) {
        results.set(key, { _tag: "Paused", key, reason: "bandwidth" })
        continue
      }
      const layer = plan.demand.layers[plan.index]!
      videoBps += layer.bitrateBps
      results.set(key, {
        _tag: "Forward",
        key,
        ssrc: layer.ssrc,
        layerIndex: plan.index,
        bitrateBps: layer.bitrateBps,
        forced: plan.forced
      })
    }

    const slots = input.slots.map((demand) => results.get(demand.key)!)
    for (const slot of slots) this.remember(slot, nowMs)
    const present = new Set(input.slots.map((demand) => demand.key))
    for (const key of this.states.keys()) if (!present.has(key)) this.states.delete(key)
    return { slots, videoBps, availableBps: available }
  }

  /** No estimate: every slot takes its best layer, still going up at most once per hold. */
  private chooseUnbounded(plans: ReadonlyArray<Plan>): void {
    for (const plan of plans) {
      const canGoUp = plan.reference < 0 || plan.holdElapsed
      plan.index = canGoUp ? plan.maxIndex : Math.max(plan.minIndex, Math.min(plan.reference, plan.maxIndex))
    }
  }

  private chooseWithin(plans: ReadonlyArray<Plan>, available: number): void {
    // Going up must leave headroom in what is still unused and in the whole allocation.
    const upgradeFits = (delta: number, remaining: number) =>
      delta <= UPGRADE_HEADROOM * remaining && available - remaining + delta <= UPGRADE_FILL * available
    const staysWithin = (delta: number, remaining: number) => delta <= remaining
    // Coming back from a pause needs the fill's headroom, not the up-switch's share of what is
    // left: the minimum of a thin link may need most of it, and a paused picture is the worst.
    const resumeFits = (cost: number, remaining: number) =>
      cost <= remaining && available - remaining + cost <= UPGRADE_FILL * available
    // Staying needs only to fit. New, resumed and orphaned slots (their layer stopped)
    // start from their minimum and go up like any up-switch.
    const holdCeiling = (plan: Plan) =>
      plan.state.pausedForBandwidth || plan.reference < 0 ? plan.minIndex : plan.reference
    const upgradeCeiling = (plan: Plan) => (plan.holdElapsed ? plan.maxIndex : -1)
    const wentDown = (plan: Plan) =>
      plan.reference >= 0 &&
      !plan.state.pausedForBandwidth &&
      plan.index < Math.min(plan.reference, plan.maxIndex)

    // Minimums first, in priority order. A slot paused for bandwidth is not given one here:
    // coming back is an up-switch, decided below from what the others leave.
    let spare = available
    for (const plan of plans) {
      const cost = this.cost(plan, plan.minIndex)
      if (plan.state.pausedForBandwidth || !staysWithin(cost, spare)) continue
      plan.index = plan.minIndex
      spare -= cost
    }
    // Then, one priority tier after the other (so lower tiers go down first): back up to the
    // layers the tier's slots have, and bring back those paused for bandwidth whose hold is
    // over, if they fit with headroom. Then, tier by tier again, beyond with what is left.
    // No slot stays above a higher-priority slot that wants more.
    const tiers: Plan[][] = []
    for (const plan of plans) {
      const last = tiers[tiers.length - 1]
      if (last && last[0]!.priority === plan.priority) last.push(plan)
      else tiers.push([plan])
    }
    for (const tier of tiers) {
      const minimums = tier.map((plan) => plan.index)
      const before = spare
      spare = this.raise(tier, plans, spare, holdCeiling, staysWithin)
      if (tier.some(wentDown)) {
        // Something must go down: far enough that the next wobble of the rates does not force
        // another switch, as if every layer above the minimum were an up-switch.
        tier.forEach((plan, i) => {
          plan.index = minimums[i]!
        })
        spare = this.raise(tier, plans, before, holdCeiling, upgradeFits)
      }
      for (const plan of tier) {
        if (!plan.state.pausedForBandwidth || !plan.resumeHoldElapsed) continue
        const cost = this.cost(plan, plan.minIndex)
        if (!resumeFits(cost, spare)) continue
        plan.index = plan.minIndex
        spare -= cost
      }
    }
    for (const tier of tiers) spare = this.raise(tier, plans, spare, upgradeCeiling, upgradeFits)
  }

  /**
   * Round-robin passes over `tier`, raising each slot one layer per pass up to its ceiling
   * while `fits` allows; a slot never rises above a higher-priority slot (among `all`) that
   * still wants more. Returns the budget left.
   */
  private raise(
    tier: ReadonlyArray<Plan>,
    all: ReadonlyArray<Plan>,
    spare: number,
    ceiling: (plan: Plan) => number,
    fits: (delta: number, remaining: number) => boolean
  ): number {
    let remaining = spare
    let raised = true
    while (raised) {
      raised = false
      for (const plan of tier) {
        if (plan.index < 0) continue
        const next = plan.index + 1
        if (next > Math.min(ceiling(plan), plan.maxIndex)) continue
        if (all.some((other) => other.priority > plan.priority && wantsMoreBelow(other, next))) continue
        const delta = this.cost(plan, next) - this.cost(plan, plan.index)
        if (!fits(delta, remaining)) continue
        plan.index = next
        remaining -= delta
        raised = true
      }
    }
    return remaining
  }

  private cost(plan: Plan, index: number): number {
    return index < 0 ? 0 : plan.demand.layers[index]!.bitrateBps
  }

  private applyForce(plan: Plan): boolean {
    const forced = indexOf(plan.demand.layers, plan.state.forced)
    if (forced < 0) return false
    plan.index = forced
    plan.forced = true
    return true
  }

  private forcedCost(plan: Plan): number {
    return plan.forced ? this.cost(plan, plan.index) : 0
  }

  private remember(slot: SlotAllocation, nowMs: number): void {
    const state = this.stateOf(slot.key)
    const target = slot._tag === "Forward" ? slot.ssrc : undefined
    if (target !== state.target) {
      state.target = target
      state.lastSwitchMs = nowMs
    }
    state.pausedForBandwidth = slot._tag === "Paused" && slot.reason === "bandwidth"
  }

  private stateOf(key: string): SlotState {
    let state = this.states.get(key)
    if (!state) {
      state = { target: undefined, pausedForBandwidth: false, lastSwitchMs: undefined, forced: undefined }
      this.states.set(key, state)
    }
    return state
  }
}
