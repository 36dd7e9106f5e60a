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
import type { AgentOptions } from "node:https";
import {
  createConfiguration,
  KubeConfig,
  ServerConfiguration,
  setHeaderMiddleware,
  wrapHttpLibrary,
  type ApiConstructor,
  type ApiType,
  type Cluster as KubeCluster,
  type RequestContext,
} from "@kubernetes/client-node";
import clientNodePackage from "@kubernetes/client-node/package.json" with { type: "json" };
import { UndiciRequestLibrary } from "./http.ts";
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

/** The User-Agent client-node sends (its `getUserAgent`, not exported): the API server's logs and audit name it. */
const CLIENT_NODE_USER_AGENT = `kubernetes-client-javascript/${clientNodePackage.version}`;

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

type CreateDispatcher = (cluster: KubeCluster | null, agentOptions: AgentOptions) => Dispatcher | undefined;

/**
 * A KubeConfig whose requests share one dispatcher (connection pool) per cluster and user, and whose API clients send
 * with undici's `request` rather than its `fetch` (lib/kube/http.ts). client-node's `applySecurityAuthentication` asks
 * its `createDispatcher` for a new undici Agent on every request; this one hands out the pool made the first time. (It
 * used to take the new Agent and close it again: 1.3% of the suite's busy time while converging 1,000 deployments,
 * mostly the error object undici makes to close an Agent.) `createDispatcher` is private in client-node's types, so
 * it is replaced on the instance.
 */
export class SharedConnectionKubeConfig extends KubeConfig {
  readonly #dispatchers = new Map<string, Dispatcher>();

  constructor() {
    super();
    const self = this as unknown as { createDispatcher?: CreateDispatcher };
    // A client-node without it (it is not part of its API) keeps making a pool per request: slower, not wrong.
    if (typeof self.createDispatcher !== "function") return;
    const createFresh = self.createDispatcher.bind(this);
    self.createDispatcher = (cluster, agentOptions) => {
      const id = `${cluster?.name ?? ""}\u0000${this.getCurrentUser()?.name ?? ""}`;
      const shared = this.#dispatchers.get(id);
      if (shared !== undefined) return shared;
      const fresh = createFresh(cluster, agentOptions);
      if (fresh !== undefined) this.#dispatchers.set(id, fresh);
      return fresh;
    };
  }

  /** As client-node's `makeApiClient` (the cluster's server, this config's authentication, its User-Agent), with `request`. */
  override makeApiClient<T extends ApiType>(apiClientType: ApiConstructor<T>): T {
    const cluster = this.getCurrentCluster();
    if (cluster === null) throw new Error("No active cluster!");
    const configuration = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: this },
      httpApi: wrapHttpLibrary(new UndiciRequestLibrary()),
      middleware: [setHeaderMiddleware("User-Agent", CLIENT_NODE_USER_AGENT)],
    });
    return new apiClientType(configuration);
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
