import { afterEach, describe, expect, it, jest } from "@jest/globals";
import { ServiceBroker } from "moleculer";
import { readConfig } from "../../lib/config.ts";
import { brokerOptions } from "../../moleculer.config.ts";

describe("brokerOptions (moleculer.config.ts)", () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it("keeps the audit trail at info when LOG_LEVEL hides other info lines", () => {
    const lines: string[] = [];
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      jest.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.join(" ")));
    }
    const broker = new ServiceBroker(brokerOptions(readConfig({ LOG_LEVEL: "warn", METRICS_PORT: "0" })));
    broker.getLogger("audit").info("an audit line");
    broker.getLogger("k8s.deployments").info("an ordinary info line");
    broker.getLogger("k8s.deployments").warn("a warning");
    expect(lines.some((l) => l.includes("an audit line"))).toBe(true);
    expect(lines.some((l) => l.includes("an ordinary info line"))).toBe(false);
    expect(lines.some((l) => l.includes("a warning"))).toBe(true);
  });

  it("uses the transporter, namespace and node id from the environment", () => {
    const options = brokerOptions(
      readConfig({ TRANSPORTER: "nats://127.0.0.1:4222", BROKER_NAMESPACE: "team", NODE_ID: "n1", METRICS_PORT: "0" }),
    );
    expect(options).toMatchObject({ transporter: "nats://127.0.0.1:4222", namespace: "team", nodeID: "n1" });
    expect(options.metrics).toMatchObject({ enabled: false });
  });

  it("retries only errors that say they are retryable", () => {
    const check = brokerOptions(readConfig({ METRICS_PORT: "0" })).retryPolicy?.check;
    expect(check?.(Object.assign(new Error("down"), { retryable: true }))).toBe(true);
    expect(check?.(Object.assign(new Error("bad input"), { retryable: false, code: 422 }))).toBe(false);
  });
});
