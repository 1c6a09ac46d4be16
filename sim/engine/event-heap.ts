export interface SimEvent {
  readonly time: number
  readonly seq: number
  readonly run: () => void
}

const before = (a: SimEvent, b: SimEvent): boolean => a.time < b.time || (a.time === b.time && a.seq < b.seq)

/** A binary min-heap of events ordered by time, then by insertion order. */
export class EventHeap {
  private readonly items: SimEvent[] = []

  get size(): number {
    return this.items.length
  }

  peek(): SimEvent | undefined {
    return this.items[0]
  }

  push(event: SimEvent): void {
    const items = this.items
    items.push(event)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(items[i]!, items[parent]!)) break
      ;[items[i], items[parent]] = [items[parent]!, items[i]!]
      i = parent
    }
  }

  pop(): SimEvent | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined || items.length === 0) return top
    items[0] = last
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let smallest = i
      if (left < items.length && before(items[left]!, items[smallest]!)) smallest = left
      if (right < items.length && before(items[right]!, items[smallest]!)) smallest = right
      if (smallest === i) break
      ;[items[i], items[smallest]] = [items[smallest]!, items[i]!]
      i = smallest
    }
    return top
  }
}
