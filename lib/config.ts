/**
 * The suite's configuration, read from the environment in one place (docs/architecture.md, "Configuration").
 * Pure: `readConfig(env)` reads only the object it is given, so tests pass their own.
 */
import path from "node:path";

export interface SuiteConfig {
  /** Gateway port (PORT). */
  port: number;
  /** Moleculer transporter URL (TRANSPORTER); undefined = one process. */
  transporter: string | undefined;
  /** Which services this node runs (SERVICES): short names or globs, comma-separated; undefined = all. */
  services: string[] | undefined;
  /** Moleculer namespace (BROKER_NAMESPACE): nodes talk only to nodes of the same one on a shared transporter. */
  brokerNamespace: string;
  /** Node ID (NODE_ID); undefined = moleculer's hostname-pid default. */
  nodeID: string | undefined;
  /** MongoDB URI (MONGO_URI); undefined = embedded NeDB files under dataDir. */
  mongoUri: string | undefined;
  /** Embedded database files and the generated JWT secret (DATA_DIR). */
  dataDir: string;
  /** A real cluster's kubeconfig (KUBECONFIG); undefined = in-cluster config or the sandbox. */
  kubeconfig: string | undefined;
  /** Running in a pod (KUBERNETES_SERVICE_HOST). */
  inCluster: boolean;
  /** Gateway token key (JWT_SECRET); undefined = generated under dataDir on first start. */
  jwtSecret: string | undefined;
  /** Default route host suffix: `<deployment>.<namespace>.<domain>` (DEFAULT_DOMAIN). */
  defaultDomain: string;
  /** Domains a namespace or vHost may use (ALLOWED_DOMAINS, comma-separated); empty = any valid DNS name. */
  allowedDomains: string[];
  /** IngressClass for Ingresses (INGRESS_CLASS); undefined = the cluster default. */
  ingressClass: string | undefined;
  /** StorageClass for PVCs (STORAGE_CLASS); undefined = the cluster default. */
  storageClass: string | undefined;
  /** "text" (readable in a terminal) or "json" (LOG_FORMAT). */
  logFormat: "text" | "json";
  /** LOG_LEVEL: fatal, error, warn, info, debug, trace. */
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace";
  /** Prometheus metrics port (METRICS_PORT); 0 = metrics off. */
  metricsPort: number;
  /** Largest JSON request body the gateway accepts (BODY_LIMIT, bytes or "1mb"). */
  bodyLimit: string;
  /** Port of the embedded sandbox cluster (SANDBOX_PORT); 0 = any free port. */
  sandboxPort: number;
  /** Where the sandbox's kubeconfig is written (SANDBOX_KUBECONFIG), relative to the working directory. */
  sandboxKubeconfig: string;
  /** Seconds between full resyncs of records against the cluster (RESYNC_INTERVAL). */
  resyncIntervalSeconds: number;
  /** Quiet seconds after which a grown process gives memory back (MEMORY_RELEASE_IDLE_SECONDS, lib/memory.ts); 0 = off. */
  memoryReleaseIdleSeconds: number;
  /**
   * Who may set a namespace's quota over the gateway (QUOTA_SET_BY): "admin" (default; owners get the default quota and
   * may not change it) or "owner" (a namespace's owners set their own). Internal calls (other services) always may.
   */
  quotaSetBy: "admin" | "owner";
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got '${raw}'`);
  }
  return value;
}

function text(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === "" ? undefined : raw;
}

function list(env: NodeJS.ProcessEnv, name: string): string[] {
  return (text(env, name) ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** Reads the suite's configuration from an environment. Throws on a malformed value, naming the variable. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): SuiteConfig {
  const logLevel = text(env, "LOG_LEVEL") ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got '${logLevel}'`);
  }
  const logFormat = text(env, "LOG_FORMAT") ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw new Error(`LOG_FORMAT must be 'text' or 'json', got '${logFormat}'`);
  }
  const quotaSetBy = text(env, "QUOTA_SET_BY") ?? "admin";
  if (quotaSetBy !== "admin" && quotaSetBy !== "owner") {
    throw new Error(`QUOTA_SET_BY must be 'admin' or 'owner', got '${quotaSetBy}'`);
  }
  const services = list(env, "SERVICES");
  return {
    port: integer(env, "PORT", 3000),
    transporter: text(env, "TRANSPORTER"),
    services: services.length > 0 ? services : undefined,
    brokerNamespace: text(env, "BROKER_NAMESPACE") ?? "moleculer-k8s",
    nodeID: text(env, "NODE_ID"),
    mongoUri: text(env, "MONGO_URI"),
    dataDir: path.resolve(text(env, "DATA_DIR") ?? "./data"),
    kubeconfig: text(env, "KUBECONFIG"),
    inCluster: text(env, "KUBERNETES_SERVICE_HOST") !== undefined,
    jwtSecret: text(env, "JWT_SECRET"),
    defaultDomain: text(env, "DEFAULT_DOMAIN") ?? "apps.example.com",
    allowedDomains: list(env, "ALLOWED_DOMAINS").map((d) => d.toLowerCase()),
    ingressClass: text(env, "INGRESS_CLASS"),
    storageClass: text(env, "STORAGE_CLASS"),
    logFormat,
    logLevel: logLevel as SuiteConfig["logLevel"],
    metricsPort: integer(env, "METRICS_PORT", 3030),
    bodyLimit: text(env, "BODY_LIMIT") ?? "1mb",
    sandboxPort: integer(env, "SANDBOX_PORT", 0),
    sandboxKubeconfig: text(env, "SANDBOX_KUBECONFIG") ?? path.join(".sandbox", "kubeconfig"),
    resyncIntervalSeconds: integer(env, "RESYNC_INTERVAL", 300),
    memoryReleaseIdleSeconds: integer(env, "MEMORY_RELEASE_IDLE_SECONDS", 20),
    quotaSetBy,
  };
}
