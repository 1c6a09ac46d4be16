import { ConfigProvider, Effect } from "effect"
import { describe, expect, it } from "vitest"
import { flagsConfigProvider, PrismConfig } from "../../src/config.ts"

const load = (argv: ReadonlyArray<string>) =>
  Effect.runSync(
    PrismConfig.fromConfig.pipe(
      Effect.provideService(ConfigProvider.ConfigProvider, flagsConfigProvider(argv))
    )
  )

describe("config from flags", () => {
  it("reads --name value and --name=value (keeping '=' inside values), defaults the rest", () => {
    const config = load([
      "--http-port",
      "8081",
      "--announced-ip=203.0.113.7",
      "--http-host=a=b",
      "--log-format=json"
    ])
    expect(config.httpPort).toBe(8081)
    expect(config.announcedIp).toBe("203.0.113.7")
    expect(config.httpHost).toBe("a=b")
    expect(config.logFormat).toBe("json")
    expect(config.internalPort).toBe(6060)
  })

  it("rejects a port range whose minimum exceeds its maximum, and values of the wrong type", () => {
    expect(() => load(["--udp-port-min", "50000", "--udp-port-max", "40000"])).toThrow(/UDP_PORT_MIN/)
    expect(() => load(["--http-port", "not-a-port"])).toThrow()
  })
})
