import { Config, ConfigProvider, Context, Duration, Effect, Layer } from "effect"

/** Every knob of the server, with defaults that work on a laptop. */
export interface PrismConfigShape {
  readonly httpHost: string
  readonly httpPort: number
  readonly internalPort: number
  /** The IP address put in ICE candidates: the public address when behind NAT. */
  readonly announcedIp: string
  readonly udpPortMin: number
  readonly udpPortMax: number
  readonly maxParticipantsPerRoom: number
  readonly maxTracksPerParticipant: number
  readonly maxRooms: number
  readonly participantTimeout: Duration.Duration
  readonly emptyRoomGrace: Duration.Duration
  readonly keyframeRequestInterval: Duration.Duration
  readonly subscriberQueuePackets: number
  readonly publisherQueuePackets: number
  readonly logFormat: "json" | "pretty"
}

export class PrismConfig extends Context.Service<PrismConfig, PrismConfigShape>()("prism/Config") {
  static readonly defaults: PrismConfigShape = {
    httpHost: "0.0.0.0",
    httpPort: 7070,
    internalPort: 6060,
    announcedIp: "127.0.0.1",
    udpPortMin: 40000,
    udpPortMax: 49999,
    maxParticipantsPerRoom: 100,
    maxTracksPerParticipant: 16,
    maxRooms: 1000,
    participantTimeout: Duration.seconds(30),
    emptyRoomGrace: Duration.seconds(30),
    keyframeRequestInterval: Duration.millis(500),
    subscriberQueuePackets: 512,
    publisherQueuePackets: 1024,
    logFormat: "pretty"
  }

  /** Reads the config from the current ConfigProvider (environment variables by default). */
  static readonly fromConfig = Effect.gen(function* () {
    const d = PrismConfig.defaults
    const int = (name: string, fallback: number) => Config.Int(name).pipe(Config.withDefault(fallback))
    const duration = (name: string, fallback: Duration.Duration) =>
      Config.Duration(name).pipe(Config.withDefault(fallback))
    const config: PrismConfigShape = {
      httpHost: yield* Config.String("HTTP_HOST").pipe(Config.withDefault(d.httpHost)),
      httpPort: yield* Config.Port("HTTP_PORT").pipe(Config.withDefault(d.httpPort)),
      internalPort: yield* Config.Port("INTERNAL_PORT").pipe(Config.withDefault(d.internalPort)),
      announcedIp: yield* Config.String("ANNOUNCED_IP").pipe(Config.withDefault(d.announcedIp)),
      udpPortMin: yield* Config.Port("UDP_PORT_MIN").pipe(Config.withDefault(d.udpPortMin)),
      udpPortMax: yield* Config.Port("UDP_PORT_MAX").pipe(Config.withDefault(d.udpPortMax)),
      maxParticipantsPerRoom: yield* int("MAX_PARTICIPANTS_PER_ROOM", d.maxParticipantsPerRoom),
      maxTracksPerParticipant: yield* int("MAX_TRACKS_PER_PARTICIPANT", d.maxTracksPerParticipant),
      maxRooms: yield* int("MAX_ROOMS", d.maxRooms),
      participantTimeout: yield* duration("PARTICIPANT_TIMEOUT", d.participantTimeout),
      emptyRoomGrace: yield* duration("EMPTY_ROOM_GRACE", d.emptyRoomGrace),
      keyframeRequestInterval: yield* duration("KEYFRAME_REQUEST_INTERVAL", d.keyframeRequestInterval),
      subscriberQueuePackets: yield* int("SUBSCRIBER_QUEUE_PACKETS", d.subscriberQueuePackets),
      publisherQueuePackets: yield* int("PUBLISHER_QUEUE_PACKETS", d.publisherQueuePackets),
      logFormat: yield* Config.Literals(["json", "pretty"], "LOG_FORMAT").pipe(
        Config.withDefault(d.logFormat)
      )
    }
    if (config.udpPortMin > config.udpPortMax) {
      return yield* Effect.fail(
        new Error(`UDP_PORT_MIN ${config.udpPortMin} exceeds UDP_PORT_MAX ${config.udpPortMax}`)
      )
    }
    return config
  })

  static readonly layer = Layer.effect(PrismConfig, PrismConfig.fromConfig)

  static readonly layerWith = (overrides: Partial<PrismConfigShape>) =>
    Layer.succeed(PrismConfig, { ...PrismConfig.defaults, ...overrides })
}

/**
 * Turns `--http-port 7070` / `--http-port=7070` flags into a ConfigProvider keyed like the
 * environment (`HTTP_PORT`), consulted before the environment itself.
 */
export const flagsConfigProvider = (argv: ReadonlyArray<string>): ConfigProvider.ConfigProvider => {
  const values: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith("--")) continue
    const body = arg.slice(2)
    const equals = body.indexOf("=")
    const rawName = equals < 0 ? body : body.slice(0, equals)
    const inline = equals < 0 ? undefined : body.slice(equals + 1)
    const key = rawName.replaceAll("-", "_").toUpperCase()
    if (inline !== undefined) values[key] = inline
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("--")) values[key] = argv[++i]!
    else values[key] = "true"
  }
  return ConfigProvider.orElse(ConfigProvider.fromEnvRecord(values), ConfigProvider.fromEnv())
}
