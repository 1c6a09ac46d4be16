/** Messages between `bench/run.ts` and its client processes (`bench/client.ts`) over the fork IPC channel. */

export type Role = "publisher" | "subscriber"

export type ToClient =
  /** join `count` peer connections into `room`, then answer `joined` once all are connected */
  | {
      readonly type: "join"
      readonly baseUrl: string
      readonly room: string
      readonly count: number
      readonly connectTimeoutMs: number
    }
  /** join one throw-away peer connection into `room`, wait until connected, then leave it */
  | {
      readonly type: "prime"
      readonly baseUrl: string
      readonly room: string
      readonly connectTimeoutMs: number
    }
  /** publisher: start paced sending */
  | {
      readonly type: "start"
      readonly rate: number
      readonly payloadBytes: number
      readonly burstMs: number
      readonly fps: number
    }
  /** publisher: report the index the next packet will get */
  | { readonly type: "mark" }
  /** publisher: stop sending */
  | { readonly type: "stop" }
  /** subscriber: how many distinct packets with index in [from, to) each peer connection received */
  | { readonly type: "count"; readonly from: number; readonly to: number }
  /** leave the room (DELETE), close every peer connection and exit */
  | { readonly type: "leave" }

export type FromClient =
  | { readonly type: "ready" }
  | { readonly type: "primed" }
  /** `retries`: peer connections that did not connect in time on the first try and were rejoined */
  | { readonly type: "joined"; readonly connectMs: number; readonly retries: number }
  | {
      readonly type: "marked"
      readonly nextIndex: number
      readonly atMs: number
      readonly keyframes: number
      readonly pictureLossIndications: number
      /** largest burst actually sent (packets), to spot timer stalls */
      readonly maxBurst: number
    }
  | { readonly type: "stopped"; readonly sent: number }
  | {
      readonly type: "counted"
      readonly perPeer: ReadonlyArray<number>
      /** every packet received since joining, duplicates included */
      readonly totalReceived: number
      /** received packets whose payload carried no benchmark index */
      readonly foreign: number
    }
  | { readonly type: "left" }
  | { readonly type: "error"; readonly message: string }

/** Where the publisher writes the packet index in each payload (after the VP8 descriptor and header byte). */
export const INDEX_OFFSET = 4
