/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes; returns whether it held. */
export const waitUntil = async (condition: () => boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return true
}

/** Polls an async reading every 50 ms until `accept` holds or `timeoutMs` passes; returns whether it held. */
export const waitUntilAsync = async <T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs: number
): Promise<boolean> => {
  const deadline = performance.now() + timeoutMs
  while (!accept(await read())) {
    if (performance.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return true
}
