/**
 * The sandbox: an embedded Kubernetes API server (store + HTTP + controllers) on 127.0.0.1, which kubectl and
 * @kubernetes/client-node drive exactly as a real cluster. `startSandbox()` starts it; `npm run sandbox` runs it alone.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { stringify } from "yaml";
import { ApiServer, type AuditEntry, type RequestCounts } from "./server.ts";
import { bootstrapPolicy, RBAC_KEYS } from "./http/rbac.ts";
import { Store, type StoreState } from "./store.ts";
import { startControllers, type Controllers } from "./controllers/index.ts";
import { NODE_NAME } from "./controllers/events.ts";
import { followPodLog, podMetrics, renderPodLog } from "./synthetic.ts";
import { SERVER_VERSION } from "./server.ts";
import { timestamp } from "./store.ts";

export type { AuditEntry } from "./server.ts";

export interface SandboxOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 = a free port (default). */
  port?: number;
  /** Bearer token of the admin user, `sandbox-admin` in group system:masters (default: random). */
  token?: string;
  /** How many requests `auditLog()` keeps (default 10000). */
  auditLogSize?: number;
  /** How long pods take to become Ready (default 1000 ms; tests ~20). */
  podReadyDelayMs?: number;
  /** How long Jobs run (default 3000 ms). */
  jobDurationMs?: number;
  /** Where the objects are saved on stop and loaded from on start (default: none, in memory only). */
  stateFile?: string;
  /** How many changes are kept for watches that resume from a resourceVersion (default 20000). */
  historySize?: number;
  /** How often watches with allowWatchBookmarks get a BOOKMARK (default 15000 ms). */
  bookmarkIntervalMs?: number;
  log?: (line: string) => void;
}

export interface Sandbox {
  /** http://127.0.0.1:<port>; the same port speaks https (self-signed), which the kubeconfig uses. */
  url: string;
  token: string;
  store: Store;
  controllers: Controllers;
  /** A kubeconfig (YAML) for this sandbox. */
  kubeconfig(): string;
  writeKubeconfig(path: string): Promise<void>;
  requestCounts(): RequestCounts;
  /**
   * Every request, oldest first (bounded by auditLogSize): user, verb, apiGroup, resource, subresource, namespace,
   * name, code. For tests: "did this ServiceAccount get a 403".
   */
  auditLog(): AuditEntry[];
  /** Ends every open watch and log stream, as an apiserver restart would (clients resume or re-list); for tests. */
  dropWatches(): number;
  stop(): Promise<void>;
}

async function loadStore(
  stateFile: string | undefined,
  historySize: number | undefined,
  log: (line: string) => void,
): Promise<Store> {
  const options = historySize === undefined ? {} : { historySize };
  if (stateFile === undefined || !existsSync(stateFile)) return new Store(options);
  try {
    const state = JSON.parse(await readFile(stateFile, "utf8")) as StoreState;
    return Store.fromJSON(state, options);
  } catch (err) {
    log(`sandbox: could not load ${stateFile} (${err instanceof Error ? err.message : String(err)}); starting empty`);
    return new Store(options);
  }
}

/** The sandbox's one Node (the controllers schedule every pod onto it). */
function ensureNode(store: Store): void {
  if (store.get("nodes", undefined, NODE_NAME) !== undefined) return;
  const now = timestamp(new Date());
  const resources = { cpu: "8", memory: "32Gi", pods: "110", "ephemeral-storage": "100Gi" };
  store.create("nodes", {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: NODE_NAME,
      labels: {
        "kubernetes.io/hostname": NODE_NAME,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/control-plane": "",
      },
    },
    spec: { podCIDR: "10.244.0.0/16", podCIDRs: ["10.244.0.0/16"] },
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: [
        {
          type: "MemoryPressure",
          status: "False",
          reason: "KubeletHasSufficientMemory",
          message: "kubelet has sufficient memory available",
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
        {
          type: "DiskPressure",
          status: "False",
          reason: "KubeletHasNoDiskPressure",
          message: "kubelet has no disk pressure",
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
        {
          type: "PIDPressure",
          status: "False",
          reason: "KubeletHasSufficientPID",
          message: "kubelet has sufficient PID available",
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
        {
          type: "Ready",
          status: "True",
          reason: "KubeletReady",
          message: "kubelet is posting ready status",
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      addresses: [
        { type: "InternalIP", address: "127.0.0.1" },
        { type: "Hostname", address: NODE_NAME },
      ],
      nodeInfo: {
        kubeletVersion: SERVER_VERSION.gitVersion,
        kubeProxyVersion: SERVER_VERSION.gitVersion,
        containerRuntimeVersion: "containerd://2.0.0",
        osImage: "moleculer-k8s sandbox",
        kernelVersion: "6.1.0",
        operatingSystem: "linux",
        architecture: "amd64",
        machineID: "sandbox",
        systemUUID: "00000000-0000-0000-0000-000000000001",
        bootID: "00000000-0000-0000-0000-000000000002",
      },
    },
  });
}

/** kube-apiserver's bootstrap RBAC policy (cluster-admin, discovery, basic-user), put back if missing. */
function ensureRbac(store: Store): void {
  const policy = bootstrapPolicy();
  for (const role of policy.clusterRoles) {
    if (store.getRef(RBAC_KEYS.clusterRoles, undefined, role.metadata.name) === undefined) {
      store.create(RBAC_KEYS.clusterRoles, role);
    }
  }
  for (const binding of policy.clusterRoleBindings) {
    if (store.getRef(RBAC_KEYS.clusterRoleBindings, undefined, binding.metadata.name) === undefined) {
      store.create(RBAC_KEYS.clusterRoleBindings, binding);
    }
  }
}

export function kubeconfigYAML(url: string, token: string): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "sandbox", cluster: { server: url, "insecure-skip-tls-verify": true } }],
    users: [{ name: "sandbox", user: { token } }],
    contexts: [{ name: "sandbox", context: { cluster: "sandbox", user: "sandbox" } }],
    "current-context": "sandbox",
    preferences: {},
  });
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const log = options.log ?? (() => undefined);
  const token = options.token ?? randomBytes(24).toString("base64url");
  const store = await loadStore(options.stateFile, options.historySize, log);
  ensureNode(store);
  ensureRbac(store);
  const controllers = startControllers(store, {
    podReadyDelayMs: options.podReadyDelayMs ?? 1000,
    jobDurationMs: options.jobDurationMs ?? 3000,
    log,
  });
  const server = new ApiServer({
    store,
    token,
    ...(options.auditLogSize === undefined ? {} : { auditLogSize: options.auditLogSize }),
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    hooks: { renderPodLog, followPodLog, podMetrics },
    ...(options.bookmarkIntervalMs === undefined ? {} : { bookmarkIntervalMs: options.bookmarkIntervalMs }),
    log,
  });
  let url: string;
  try {
    url = await server.start();
  } catch (err) {
    controllers.stop();
    throw err;
  }
  let stopped = false;
  const kubeconfig = (): string => kubeconfigYAML(server.secureUrl(), token);
  return {
    url,
    token,
    store,
    controllers,
    kubeconfig,
    async writeKubeconfig(path: string): Promise<void> {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, kubeconfig(), { mode: 0o600 });
    },
    requestCounts: () => server.requestCounts(),
    auditLog: () => server.auditLog(),
    dropWatches: () => server.dropStreams(),
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      controllers.stop();
      await server.stop();
      if (options.stateFile !== undefined) {
        await mkdir(dirname(options.stateFile), { recursive: true });
        const tmp = `${options.stateFile}.tmp`;
        await writeFile(tmp, JSON.stringify(store.toJSON()));
        await rename(tmp, options.stateFile);
      }
    },
  };
}
