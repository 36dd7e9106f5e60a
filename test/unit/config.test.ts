import { describe, expect, it } from "@jest/globals";
import { readConfig } from "../../lib/config.ts";

describe("readConfig", () => {
  it("gives the documented defaults for an empty environment", () => {
    const config = readConfig({});
    expect(config).toMatchObject({
      port: 3000,
      transporter: undefined,
      services: undefined,
      mongoUri: undefined,
      kubeconfig: undefined,
      inCluster: false,
      logFormat: "text",
      logLevel: "info",
      metricsPort: 3030,
      allowedDomains: [],
      quotaSetBy: "admin",
    });
    expect(config.dataDir.endsWith("/data")).toBe(true);
  });

  it("reads lists, numbers and switches", () => {
    const config = readConfig({
      PORT: "8080",
      SERVICES: " api, kube ,,namespaces",
      TRANSPORTER: "nats://127.0.0.1:4222",
      ALLOWED_DOMAINS: "Example.com,apps.test",
      KUBERNETES_SERVICE_HOST: "10.0.0.1",
      LOG_FORMAT: "json",
      LOG_LEVEL: "debug",
      QUOTA_SET_BY: "owner",
    });
    expect(config).toMatchObject({
      port: 8080,
      services: ["api", "kube", "namespaces"],
      transporter: "nats://127.0.0.1:4222",
      allowedDomains: ["example.com", "apps.test"],
      inCluster: true,
      logFormat: "json",
      logLevel: "debug",
      quotaSetBy: "owner",
    });
  });

  it.each([
    ["PORT", "abc"],
    ["PORT", "-1"],
    ["METRICS_PORT", "1.5"],
    ["LOG_LEVEL", "loud"],
    ["LOG_FORMAT", "xml"],
    ["QUOTA_SET_BY", "anyone"],
  ])("refuses %s=%s, naming the variable", (name, value) => {
    expect(() => readConfig({ [name]: value })).toThrow(name);
  });
});
