/** Messages between `bench/soak.ts` and its client processes (`bench/soak-client.ts`) over the fork IPC channel. */

export type SoakRole = "steady" | "churn"

export type ToSoakClient =
  /** steady: join the publisher and the subscriber into `room`; answer `steady-joined` once both are connected */
  | { readonly type: "steady-join"; readonly baseUrl: string; readonly room: string }
  /** steady: report what the subscriber received since the last report (and start a new period) */
  | { readonly type: "steady-report" }
  /** churn: run `churners` join/leave loops until `seconds` have passed, then answer `churned` */
  | {
      readonly type: "churn"
      readonly baseUrl: string
      /** every other churner joins this room; the rest join a room of their own, new each time */
      readonly sharedRoom: string
      readonly roomPrefix: string
      readonly churners: number
      readonly seconds: number
      readonly holdMs: readonly [number, number]
    }
  /** leave (DELETE) and close everything, then answer `left` and exit */
  | { readonly type: "leave" }

/** A steady subscriber's view of one period: frames decoded and the longest wait between two. */
export interface SteadyPeriod {
  readonly seconds: number
  readonly videoFrames: number
  /** largest interval between two decoded frames (or from the period's start to its first frame) */
  readonly maxFrameGapMs: number
  /** control messages the subscriber received (roster diffs for every churner's join and leave) */
  readonly controlMessages: number
  readonly connectionState: string
}

export interface ChurnTally {
  readonly joins: number
  readonly leaves: number
  /** HTTP status of every POST (join) */
  readonly joinStatuses: Readonly<Record<string, number>>
  /** HTTP status of every DELETE (leave) */
  readonly leaveStatuses: Readonly<Record<string, number>>
  /** joins answered 201 whose peer connection did not reach `connected` in time */
  readonly notConnected: number
  /** joins whose control channel got the server's `welcome` */
  readonly welcomed: number
  /** requests that failed without an HTTP answer, and other errors, by message */
  readonly errors: Readonly<Record<string, number>>
}

export type FromSoakClient =
  | { readonly type: "ready" }
  | { readonly type: "steady-joined" }
  | ({ readonly type: "steady-period" } & SteadyPeriod)
  | ({ readonly type: "churned" } & ChurnTally)
  | { readonly type: "left" }
  | { readonly type: "error"; readonly message: string }
