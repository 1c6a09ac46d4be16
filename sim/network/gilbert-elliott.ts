/**
 * Bursty loss: a two-state Markov chain. In the good state packets are lost with
 * `lossGood`, in the bad state with `lossBad`; each packet moves good→bad with `p` and
 * bad→good with `r`, so bursts last 1/r packets on average.
 */
export interface GilbertElliott {
  readonly p: number
  readonly r: number
  readonly lossGood: number
  readonly lossBad: number
}

export const meanLoss = (ge: GilbertElliott): number => {
  const bad = ge.p + ge.r === 0 ? 0 : ge.p / (ge.p + ge.r)
  return bad * ge.lossBad + (1 - bad) * ge.lossGood
}

export class GilbertElliottState {
  bad = false

  /** Advances the chain by one packet; true when that packet is lost. */
  step(ge: GilbertElliott, random: () => number): boolean {
    this.bad = this.bad ? random() >= ge.r : random() < ge.p
    const loss = this.bad ? ge.lossBad : ge.lossGood
    return loss > 0 && random() < loss
  }
}
