import { describe, expect, it } from "@jest/globals";
import { Loggers, ServiceBroker, type BrokerOptions } from "moleculer";
import { debugIsSilent } from "../../services/api.service.ts";

/**
 * The gateway writes its per-request debug line (and pays for building it) only while a debug line can be written:
 * `debugIsSilent` must say "silent" only when no appender logs debug lines for the gateway's module.
 */
describe("debugIsSilent", () => {
  function silent(logger: NonNullable<BrokerOptions["logger"]>, mod = "api"): boolean {
    const broker = new ServiceBroker({ logger, nodeID: "debug-log-test" });
    return debugIsSilent(broker.getLogger(mod), mod, false);
  }
  /** An appender with that level that writes nothing (the levels are what is read). */
  class Quiet extends Loggers.Base<{ level?: "trace" }> {}
  // moleculer's typings allow one level name only; at run time a level may also be an object by module.
  const appenderAt = (level: unknown): Quiet => new Quiet({ level } as { level?: "trace" });

  it("is silent with no logger and with levels above debug", () => {
    expect(silent(false)).toBe(true);
    expect(silent(appenderAt("info"))).toBe(true);
    expect(silent(appenderAt({ AUDIT: "info", "**": "warn" }))).toBe(true);
  });

  it("is not silent when the module logs debug or trace lines, by its own level or the default one", () => {
    expect(silent(appenderAt("debug"))).toBe(false);
    expect(silent(appenderAt("trace"))).toBe(false);
    expect(silent(appenderAt({ API: "debug", "**": "warn" }))).toBe(false);
    expect(silent(appenderAt({ AUDIT: "info", "**": "debug" }))).toBe(false);
  });

  it("is not silent when a newLogEntry middleware sees every line, nor for an appender it cannot ask", () => {
    const broker = new ServiceBroker({ logger: appenderAt("warn"), nodeID: "debug-log-test" });
    expect(debugIsSilent(broker.getLogger("api"), "api", true)).toBe(false);
    const odd = { debug: () => undefined, appenders: [{}] };
    expect(debugIsSilent(odd as unknown as ReturnType<ServiceBroker["getLogger"]>, "api", false)).toBe(false);
  });
});
