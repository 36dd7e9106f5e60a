/**
 * One broker for the envs tests: the real gateway (port 0), v1.k8s.namespaces and v1.k8s.images (in-memory NeDB),
 * v1.kube against a real sandbox, v1.k8s.envs, and a test double of `v1.k8s.deployments` (a real Moleculer service
 * keeping deployment records in memory, with `get`/`find` and the `k8s.deployments.created|removed` events the real
 * one broadcasts). The broker logs every line at every level into `lines` (a logger that records), so tests can check
 * that no secret value reaches a log line. Nothing about the cluster is stubbed.
 */
import { Loggers, ServiceBroker, type BrokerOptions, type Context, type ServiceSchema } from "moleculer";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { inspect } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { startSandbox, type Sandbox } from "../../../lib/sandbox/index.ts";
import { signToken } from "../../../lib/auth.ts";
import { notFound } from "../../../lib/errors.ts";
import type { CallerMeta } from "../../../lib/meta.ts";
import ApiService, { type Settings as ApiSettings } from "../../../services/api.service.ts";
import kubeService from "../../../services/kube.service.ts";
import envsService from "../../../services/envs.service.ts";
import deploymentsService from "../../../services/deployments.service.ts";
import namespacesService from "../../../services/namespaces.service.ts";
import imagesService from "../../../services/images.service.ts";
import { newId } from "../../../mixins/db.mixin.ts";
import { IMAGES_DIR } from "../../helpers/records.ts";
import { ParamValidator } from "../../../lib/param-validator.ts";

const JWT_SECRET = "envs-test-secret-with-enough-entropy-0123456789";

/** A logger that keeps every line (all levels, objects rendered in full). */
export class RecordingLogger extends Loggers.Base<{ level?: "trace" }> {
  readonly lines: string[] = [];
  override getLogHandler(bindings: { mod?: string }): (type: string, args: unknown[]) => void {
    return (type, args) => {
      const text = args
        .map((a) => (typeof a === "string" ? a : inspect(a, { depth: null, breakLength: Infinity, showHidden: false })))
        .join(" ");
      this.lines.push(`${type} [${bindings.mod}] ${text}`);
    };
  }
}

export interface DeploymentRecord {
  id: string;
  name: string;
  namespace: string;
  image: string;
}

export interface RecordedEvent {
  name: string;
  payload: unknown;
}

export interface EnvHarness {
  readonly sandbox: Sandbox;
  broker: ServiceBroker;
  core: CoreV1Api;
  /** Every log line of the broker, all levels. */
  lines: string[];
  /** Every `k8s.envs.*` event, with its payload. */
  events: RecordedEvent[];
  /**
   * Stores a deployment record in the test double, makes its image's envs with `createEnv` as the real service does on
   * a create (the tests' image "none", not in the catalog, stands for an image without envs), and broadcasts
   * `k8s.deployments.created`.
   */
  addDeployment(fields: Omit<DeploymentRecord, "id">): Promise<DeploymentRecord>;
  /** Changes a deployment record of the test double and broadcasts `k8s.deployments.updated`. */
  updateDeployment(id: string, fields: Partial<Omit<DeploymentRecord, "id">>): Promise<DeploymentRecord>;
  /**
   * Drops a deployment record from the test double and broadcasts `k8s.deployments.removed`; with `unseen`, no event
   * (as for a deployment removed while v1.k8s.envs was down).
   */
  removeDeployment(id: string, options?: { unseen?: boolean }): Promise<void>;
  /** A namespace record owned by `owner` (internal create) and its Namespace in the sandbox. */
  createNamespace(name: string, owner: string): Promise<{ id: string; name: string }>;
  /** Stops the sandbox (the cluster goes away); the broker keeps running. */
  stopSandbox(): Promise<void>;
  /** Starts the sandbox again on the same port with the same token (and state, with `stateFile`). */
  restartSandbox(): Promise<void>;
  token(userID: string, admin?: boolean): Promise<string>;
  request(path: string, init?: { method?: string; token?: string; body?: unknown }): Promise<Response>;
  stop(): Promise<void>;
}

export function as(userID: string, roles: string[] = []): { meta: CallerMeta } {
  return { meta: { userID, roles } };
}

export interface EnvHarnessOptions {
  /** Extra settings of v1.k8s.envs. */
  envSettings?: Record<string, unknown>;
  /** The sandbox keeps its objects in this file across `restartSandbox()`. */
  stateFile?: string;
  /** Run the real v1.k8s.deployments instead of the test double (`addDeployment`/`removeDeployment` then throw). */
  realDeployments?: boolean;
  /** Extra settings of v1.kube (e.g. `informers: false`: no watches, so no kube.* events). */
  kubeSettings?: Record<string, unknown>;
  /** Run the gateway on this broker (default true). */
  gateway?: boolean;
  /** More broker options (a transporter and namespace for tests across nodes). */
  broker?: Partial<BrokerOptions>;
}

export async function startEnvHarness(options: EnvHarnessOptions = {}): Promise<EnvHarness> {
  const sandboxOptions = {
    podReadyDelayMs: 20,
    ...(options.stateFile === undefined ? {} : { stateFile: options.stateFile }),
  };
  let sandbox = await startSandbox({ port: 0, ...sandboxOptions });
  let sandboxUp = true;
  const logger = new RecordingLogger({ level: "trace" });
  const broker = new ServiceBroker({
    validator: new ParamValidator(),
    nodeID: `envs-test-${process.pid}-${Date.now()}`,
    ...options.broker,
    logger,
  });
  const events: RecordedEvent[] = [];
  const deployments = new Map<string, DeploymentRecord>();

  broker.createService({
    ...kubeService,
    settings: { ...kubeService.settings, kubeconfig: sandbox.kubeconfig(), ...options.kubeSettings },
  });
  broker.createService({ ...namespacesService, settings: { ...namespacesService.settings, db: { memory: true } } });
  broker.createService({
    ...imagesService,
    settings: { ...imagesService.settings, db: { memory: true }, imagesDir: IMAGES_DIR },
  });
  broker.createService({
    ...envsService,
    settings: { ...envsService.settings, db: { memory: true }, ...options.envSettings },
  });
  if (options.realDeployments === true) {
    broker.createService({ ...deploymentsService, settings: { ...deploymentsService.settings, db: { memory: true } } });
  } else {
    broker.createService(deploymentsDouble(deployments));
  }
  broker.createService({
    name: "envs-recorder",
    events: {
      "k8s.envs.*"(ctx: Context<unknown>) {
        events.push({ name: ctx.eventName ?? "", payload: ctx.params });
      },
    },
  });
  if (options.gateway !== false) addGateway(broker);

  try {
    await broker.start();
  } catch (err) {
    await sandbox.stop();
    throw err;
  }
  const url = options.gateway === false ? "http://127.0.0.1:1" : await gatewayUrl(broker);

  const kc = new KubeConfig();
  kc.loadFromString(sandbox.kubeconfig());
  const core = kc.makeApiClient(CoreV1Api);

  return {
    get sandbox() {
      return sandbox;
    },
    broker,
    core,
    lines: logger.lines,
    events,
    async addDeployment(fields) {
      if (options.realDeployments === true) throw new Error("addDeployment needs the test double");
      const record = { ...fields, id: newId() };
      deployments.set(record.id, record);
      if (typeof record.image === "string" && record.image !== "none") {
        await broker.call("v1.k8s.envs.createEnv", {
          deployment: record.id,
          namespace: record.namespace,
          image: record.image,
        });
      }
      await broker.broadcast("k8s.deployments.created", record);
      return record;
    },
    async updateDeployment(id, fields) {
      const current = deployments.get(id);
      if (current === undefined) throw new Error(`no deployment ${id} in the test double`);
      const record = { ...current, ...fields };
      deployments.set(id, record);
      await broker.broadcast("k8s.deployments.updated", record);
      return record;
    },
    async removeDeployment(id, { unseen = false } = {}) {
      const record = deployments.get(id);
      deployments.delete(id);
      if (record !== undefined && !unseen) await broker.broadcast("k8s.deployments.removed", record);
    },
    async createNamespace(name, owner) {
      const ns = await broker.call<{ id: string; name: string }, { name: string; owner: string }>(
        "v1.k8s.namespaces.create",
        { name, owner },
      );
      await broker.call("v1.kube.apply", {
        objects: [{ apiVersion: "v1", kind: "Namespace", metadata: { name } }],
        fieldManager: "envs-test",
      });
      return ns;
    },
    token: testToken,
    request: (path, init = {}) => request(url, path, init),
    async stopSandbox() {
      sandboxUp = false;
      await sandbox.stop();
    },
    async restartSandbox() {
      const port = Number(new URL(sandbox.url).port);
      sandbox = await startSandbox({ ...sandboxOptions, port, token: sandbox.token });
      sandboxUp = true;
    },
    async stop() {
      await broker.stop();
      if (sandboxUp) await sandbox.stop();
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false (every 10 ms, up to `timeoutMs`). */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The test double of v1.k8s.deployments: records in a map, `get` (404 when missing) and `find` (equality query). */
function deploymentsDouble(deployments: Map<string, DeploymentRecord>): ServiceSchema {
  return {
    name: "k8s.deployments",
    version: 1,
    actions: {
      get: {
        params: { id: "string" },
        handler(ctx: Context<{ id: string }>): DeploymentRecord {
          const record = deployments.get(ctx.params.id);
          if (record === undefined) throw notFound("deployment", ctx.params.id);
          return record;
        },
      },
      find: {
        params: { query: { type: "object", optional: true } },
        handler(ctx: Context<{ query?: Record<string, unknown> }>): DeploymentRecord[] {
          const query = ctx.params.query ?? {};
          return [...deployments.values()].filter((d) =>
            Object.entries(query).every(([k, v]) => (d as unknown as Record<string, unknown>)[k] === v),
          );
        },
      },
    },
  };
}

/** Adds the real gateway (port 0, the test JWT secret) to a broker that has not started yet. */
export function addGateway(broker: ServiceBroker): void {
  const defaults = ApiService.settings as ApiSettings;
  broker.createService({
    ...ApiService,
    settings: { ...defaults, port: 0, ip: "127.0.0.1", jwtSecret: JWT_SECRET, debounceTime: 20 },
  });
}

/** The URL of a started broker's gateway, once it publishes v1.k8s.envs (local or on another node). */
export async function gatewayUrl(broker: ServiceBroker, timeoutMs = 10_000): Promise<string> {
  const gateway = broker.getLocalService("api") as unknown as { server: Server; aliases: { action: string | null }[] };
  const deadline = Date.now() + timeoutMs;
  while (!gateway.aliases.some((a) => a.action === "v1.k8s.envs.pack")) {
    if (Date.now() > deadline) throw new Error("the gateway did not publish v1.k8s.envs");
    await new Promise((r) => setTimeout(r, 10));
  }
  const { port } = gateway.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

/** A token the test gateways accept. */
export function testToken(userID: string, admin = false): Promise<string> {
  return signToken({ userID, admin }, JWT_SECRET);
}

/** fetch against a gateway, with a bearer token and a JSON body. */
export function request(
  url: string,
  path: string,
  init: { method?: string; token?: string; body?: unknown } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (init.token !== undefined) headers["Authorization"] = `Bearer ${init.token}`;
  let body: string | undefined;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers["Content-Type"] = "application/json";
  }
  return fetch(`${url}${path}`, { method: init.method ?? "GET", headers, ...(body === undefined ? {} : { body }) });
}
