/** Listener for one event of an event map. */
export type Listener<T> = (value: T) => void

/**
 * A small typed event emitter. Events named in `sticky` describe state (the roster, the
 * bindings, the connection state): a listener added later is called at once with the latest
 * value, so nothing that happened during `join` is missed. Sticky values are kept per key, so
 * the `track` event replays one value per slot.
 */
export class Emitter<Events extends Record<string, unknown>> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>()
  readonly #latest = new Map<keyof Events, Map<string, unknown>>()
  readonly #sticky: ReadonlySet<keyof Events>
  readonly #onListenerError: (error: unknown) => void

  constructor(sticky: ReadonlyArray<keyof Events>, onListenerError: (error: unknown) => void) {
    this.#sticky = new Set(sticky)
    this.#onListenerError = onListenerError
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    set.add(listener as Listener<never>)
    for (const value of this.#latest.get(event)?.values() ?? []) this.#call(listener, value as Events[K])
    return () => this.off(event, listener)
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>)
  }

  /** Calls every listener of `event`; `key` distinguishes sticky values of one event (e.g. per slot). */
  emit<K extends keyof Events>(event: K, value: Events[K], key = ""): void {
    if (this.#sticky.has(event)) {
      let latest = this.#latest.get(event)
      if (latest === undefined) {
        latest = new Map()
        this.#latest.set(event, latest)
      }
      latest.set(key, value)
    }
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      this.#call(listener as Listener<Events[K]>, value)
    }
  }

  removeAll(): void {
    this.#listeners.clear()
  }

  #call<T>(listener: Listener<T>, value: T): void {
    try {
      listener(value)
    } catch (error) {
      // A throwing listener must not stop the others, nor the SDK's own message handling.
      this.#onListenerError(error)
    }
  }
}
