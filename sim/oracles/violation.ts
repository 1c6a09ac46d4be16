/** A property of the run that did not hold. */
export interface Violation {
  readonly oracle: string
  readonly message: string
}
