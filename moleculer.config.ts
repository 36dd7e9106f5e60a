/**
 * Broker options for every node of the suite, from the environment (lib/config.ts).
 * `npm start` (scripts/start.ts) loads this file; tests build their brokers from `brokerOptions()` too.
 */
import type { BrokerOptions, Errors } from "moleculer";
import { readConfig, type SuiteConfig } from "./lib/config.ts";
import { ParamValidator } from "./lib/param-validator.ts";
import { restartedNodesMiddleware } from "./lib/restarted-nodes.ts";

export function brokerOptions(config: SuiteConfig = readConfig()): BrokerOptions {
  return {
    namespace: config.brokerNamespace,
    ...(config.nodeID === undefined ? {} : { nodeID: config.nodeID }),
    logger: {
      type: "Console",
      options: {
        // The audit trail (one line per change, services/api.service.ts) stays at info whatever LOG_LEVEL says.
        level: { AUDIT: "info", "**": config.logLevel },
        colors: config.logFormat === "text" && process.stdout.isTTY === true,
        moduleColors: false,
        formatter: config.logFormat === "json" ? "json" : "short",
        autoPadding: false,
      },
    },
    // A URL such as nats://127.0.0.1:4222; moleculer accepts URLs here though its typings list only type names.
    ...(config.transporter === undefined
      ? {}
      : { transporter: config.transporter as NonNullable<BrokerOptions["transporter"]> }),
    // One serializer everywhere; JSON keeps messages readable when debugging NATS traffic.
    serializer: "JSON",
    requestTimeout: 30 * 1000,
    // Only errors that say they are worth retrying (MoleculerRetryableError: cluster or database unreachable).
    retryPolicy: {
      enabled: true,
      retries: 3,
      delay: 100,
      maxDelay: 2000,
      factor: 2,
      check: (err: Error) => (err as Errors.MoleculerError).retryable === true,
    },
    // Calls in flight to a node that restarted under its nodeID are retried at once, not after requestTimeout.
    middlewares: [restartedNodesMiddleware()],
    maxCallLevel: 100,
    heartbeatInterval: 5,
    heartbeatTimeout: 15,
    contextParamsCloning: false,
    tracking: { enabled: true, shutdownTimeout: 10 * 1000 },
    disableBalancer: false,
    registry: { strategy: "RoundRobin", preferLocal: true },
    circuitBreaker: { enabled: false },
    bulkhead: { enabled: false },
    // fastest-validator, with one message table for all compiled rules (lib/param-validator.ts: 3.6 MiB less heap).
    validator: new ParamValidator(),
    metrics: {
      enabled: config.metricsPort > 0,
      reporter: [{ type: "Prometheus", options: { port: config.metricsPort, path: "/metrics" } }],
    },
    tracing: { enabled: false },
  };
}

export default brokerOptions();
