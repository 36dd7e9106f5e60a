/**
 * Chooses the cluster (docs/architecture.md, "Cluster selection and the sandbox"):
 * an explicit kubeconfig (path or YAML, for tests) → that; `KUBECONFIG` → that file; `KUBERNETES_SERVICE_HOST` →
 * in-cluster config; otherwise the embedded sandbox, whose kubeconfig is written to `.sandbox/kubeconfig` so that
 * `kubectl --kubeconfig .sandbox/kubeconfig get all -A` works against it.
 *
 * The KubeConfig is loaded once and its current context never changes (client-node 2.x freezes the server URL in
 * `makeApiClient`, while credentials follow the current context). All requests share one HTTP dispatcher per
 * cluster/user, which `stop()` closes (client-node would otherwise make a new connection pool per request).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { KubeConfig, type RequestContext } from "@kubernetes/client-node";
import type { Sandbox, SandboxOptions } from "../sandbox/index.ts";
import { readConfig } from "../config.ts";

export type ClusterSource = "kubeconfig" | "in-cluster" | "sandbox";

export interface ClusterOptions {
  /** A kubeconfig: a file path, or the YAML itself (tests). Takes precedence over the environment. */
  kubeconfig?: string;
  /** Options for the sandbox when it is the one chosen (port defaults to SANDBOX_PORT). */
  sandbox?: SandboxOptions;
  env?: NodeJS.ProcessEnv;
  /** Where `.sandbox/kubeconfig` goes (default: process.cwd()). */
  cwd?: string;
}

export interface Cluster {
  kubeConfig: KubeConfig;
  source: ClusterSource;
  /** The embedded sandbox, when it was started here. */
  sandbox?: Sandbox;
  /** Where the sandbox's kubeconfig was written. */
  kubeconfigPath?: string;
  /** The API server URL. */
  server: string;
  /** Closes the shared connections and stops the sandbox if it was started here. */
  stop(): Promise<void>;
}

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

/** A KubeConfig whose requests share one dispatcher (connection pool) per cluster and user. */
export class SharedConnectionKubeConfig extends KubeConfig {
  readonly #dispatchers = new Map<string, Dispatcher>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (fresh === undefined) return;
    const id = `${this.getCurrentCluster()?.name ?? ""}\u0000${this.getCurrentUser()?.name ?? ""}`;
    const shared = this.#dispatchers.get(id);
    if (shared === undefined) {
      this.#dispatchers.set(id, fresh);
    } else {
      context.setDispatcher(shared);
      // The fresh one never connected: closing it frees nothing but its object.
      void fresh.close().catch(() => undefined);
    }
  }

  /** Closes every shared connection pool (open watches and log streams included). */
  async closeConnections(): Promise<void> {
    const all = [...this.#dispatchers.values()];
    this.#dispatchers.clear();
    await Promise.all(all.map((d) => d.destroy().catch(() => undefined)));
  }
}

/** A kubeconfig given as text (has a newline or starts like YAML/JSON) rather than a path. */
function isInlineKubeconfig(value: string): boolean {
  return value.includes("\n") || /^\s*(apiVersion|kind|clusters|\{)/.test(value);
}

function serverOf(kc: KubeConfig): string {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error("The kubeconfig has no current cluster (set current-context)");
  return cluster.server;
}

/** Loads the cluster to use (see the file comment for the order). Starts the sandbox when nothing else is configured. */
export async function loadCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const env = options.env ?? process.env;
  const kc = new SharedConnectionKubeConfig();
  const closeOnly = (): Promise<void> => kc.closeConnections();

  if (options.kubeconfig !== undefined && options.kubeconfig.trim() !== "") {
    if (isInlineKubeconfig(options.kubeconfig)) kc.loadFromString(options.kubeconfig);
    else kc.loadFromFile(options.kubeconfig);
    return { kubeConfig: kc, source: "kubeconfig", server: serverOf(kc), stop: closeOnly };
  }
  const config = readConfig(env);
  if (config.kubeconfig !== undefined) {
    // KUBECONFIG may list several files (like kubectl); the first one that exists is loaded.
    const files = config.kubeconfig.split(path.delimiter).filter((f) => f !== "");
    const file = files[0] ?? config.kubeconfig;
    kc.loadFromFile(file);
    return { kubeConfig: kc, source: "kubeconfig", server: serverOf(kc), stop: closeOnly };
  }
  if (config.inCluster) {
    kc.loadFromCluster();
    return { kubeConfig: kc, source: "in-cluster", server: serverOf(kc), stop: closeOnly };
  }

  const { startSandbox } = await import("../sandbox/index.ts");
  const sandbox = await startSandbox({ port: config.sandboxPort, ...options.sandbox });
  try {
    const kubeconfigPath = path.resolve(options.cwd ?? process.cwd(), config.sandboxKubeconfig);
    await fs.mkdir(path.dirname(kubeconfigPath), { recursive: true });
    await sandbox.writeKubeconfig(kubeconfigPath);
    kc.loadFromString(sandbox.kubeconfig());
    return {
      kubeConfig: kc,
      source: "sandbox",
      sandbox,
      kubeconfigPath,
      server: serverOf(kc),
      stop: async () => {
        await kc.closeConnections();
        await sandbox.stop();
      },
    };
  } catch (err) {
    await sandbox.stop();
    throw err;
  }
}
