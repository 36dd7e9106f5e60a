/**
 * The whole suite for the security tests: the gateway (rate limiting off), v1.kube against a real sandbox, and
 * namespaces, images, volumes, envs and deployments (in-memory NeDB). One node (`nodes: 1`, no transporter) or two
 * over NATS (`nodes: 2`: the gateway on one node, the domain services and v1.kube on the other, a unique broker
 * namespace). With `record: true` every broker logs at debug into `lines` and a spy service on each node records
 * every event ("**") into `events`. Nothing is stubbed. Stop it with `stop()` in afterAll.
 */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { Loggers, ServiceBroker, type BrokerOptions, type Context, type ServiceSchema } from "moleculer";
import { startSandbox, type Sandbox } from "../../lib/sandbox/index.ts";
import { signToken } from "../../lib/auth.ts";
import ApiService, { type Settings as ApiSettings } from "../../services/api.service.ts";
import kubeService from "../../services/kube.service.ts";
import namespacesService from "../../services/namespaces.service.ts";
import imagesService from "../../services/images.service.ts";
import volumesService from "../../services/volumes.service.ts";
import envsService from "../../services/envs.service.ts";
import deploymentsService from "../../services/deployments.service.ts";
import { ParamValidator } from "../../lib/param-validator.ts";

const IMAGES_DIR = fileURLToPath(new URL("../../images/", import.meta.url));
const NATS = (process.env.NATS_URL ?? "nats://127.0.0.1:4222") as NonNullable<BrokerOptions["transporter"]>;
/** The gateway's JWT key in these tests. */
export const JWT_SECRET = "security-stack-secret-0123456789abcdef";

export interface SecurityStackOptions {
  /** 1: everything on one broker; 2: the gateway apart from the services, over NATS. */
  nodes?: 1 | 2;
  /** Record every log line (debug and up) of every broker and every event seen on every node. */
  record?: boolean;
}

/** One event as a node's spy saw it. */
export interface SeenEvent {
  node: string;
  event: string;
  payload: unknown;
}

export interface RestAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
  body: Record<string, unknown>;
}

export interface SecurityStack {
  sandbox: Sandbox;
  /** The broker of v1.kube and the domain services. */
  services: ServiceBroker;
  /** The gateway's broker (the services' broker with `nodes: 1`). */
  gateway: ServiceBroker;
  url: string;
  /** Log lines of every broker (with `record`). */
  lines: string[];
  /** Events seen by every node's spy (with `record`). */
  events: SeenEvent[];
  /** Every REST answer sent through `rest` (status, headers, raw text). */
  answers: RestAnswer[];
  token(userID: string, admin?: boolean): Promise<string>;
  /** fetch on the gateway; `token` undefined = no Authorization header; answers status, headers, parsed JSON. */
  rest(method: string, path: string, token?: string, body?: unknown): Promise<RestAnswer>;
  stop(): Promise<void>;
}

/** A logger that keeps every line (objects rendered in full). */
class RecordingLogger extends Loggers.Base<{ level?: "debug" }> {
  readonly lines: string[];
  readonly node: string;
  constructor(lines: string[], node: string) {
    super({ level: "debug" });
    this.lines = lines;
    this.node = node;
  }
  override getLogHandler(bindings: { mod?: string }): (type: string, args: unknown[]) => void {
    return (type, args) => {
      const text = args
        .map((a) => (typeof a === "string" ? a : inspect(a, { depth: null, breakLength: Infinity })))
        .join(" ");
      this.lines.push(`${this.node} ${type} [${bindings.mod ?? ""}] ${text}`);
    };
  }
}

function spyService(node: string, events: SeenEvent[]): ServiceSchema {
  return {
    name: `security-spy-${node}`,
    events: {
      "**"(ctx: Context) {
        events.push({ node, event: ctx.eventName ?? "?", payload: ctx.params });
      },
    },
  };
}

/** Polls `check` every 20 ms until it returns something other than undefined/false. */
export async function waitUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startSecurityStack(options: SecurityStackOptions = {}): Promise<SecurityStack> {
  const nodes = options.nodes ?? 1;
  const record = options.record === true;
  const lines: string[] = [];
  const events: SeenEvent[] = [];
  const answers: RestAnswer[] = [];
  const sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20 });
  const brokerNamespace = `sec-${randomBytes(4).toString("hex")}`;
  const brokerOf = (node: string): ServiceBroker =>
    new ServiceBroker({
      validator: new ParamValidator(),
      nodeID: `${brokerNamespace}-${node}`,
      logger: record ? new RecordingLogger(lines, node) : false,
      logLevel: "debug",
      ...(nodes === 2 ? { namespace: brokerNamespace, transporter: NATS } : {}),
    });
  const services = brokerOf("services");
  const gateway = nodes === 2 ? brokerOf("gateway") : services;

  const memory = { db: { memory: true } };
  const add = (broker: ServiceBroker, schema: unknown, extra: Record<string, unknown>) => {
    const typed = schema as ServiceSchema;
    broker.createService({ ...typed, settings: { ...typed.settings, ...extra } });
  };
  add(services, kubeService, { kubeconfig: sandbox.kubeconfig() });
  add(services, namespacesService, memory);
  add(services, imagesService, { ...memory, imagesDir: IMAGES_DIR });
  add(services, volumesService, memory);
  add(services, envsService, memory);
  add(services, deploymentsService, {
    ...memory,
    statusDebounceMs: 20,
    allowedDomains: ["example.com"],
    reconciler: { initialBackoffMs: 100, maxBackoffMs: 500, initialResyncDelayMs: -1 },
  });
  add(gateway, ApiService, {
    ...(ApiService.settings as ApiSettings),
    port: 0,
    ip: "127.0.0.1",
    jwtSecret: JWT_SECRET,
    debounceTime: 20,
    requestRateLimit: { rate: 0, burst: 0 },
  });
  if (record) {
    services.createService(spyService("services", events));
    if (nodes === 2) gateway.createService(spyService("gateway", events));
  }

  let url = "";
  try {
    await services.start();
    if (gateway !== services) await gateway.start();
    await gateway.waitForServices(
      ["v1.kube", "v1.k8s.namespaces", "v1.k8s.images", "v1.k8s.volumes", "v1.k8s.envs", "v1.k8s.deployments"],
      10_000,
    );
    if (record && nodes === 2) {
      // Each node must know the other's spy before anything happens, or its broadcasts skip that node.
      await services.waitForServices(["security-spy-gateway", "api"], 10_000);
      await gateway.waitForServices(["security-spy-services"], 10_000);
    }
    await waitUntil(
      () =>
        services.call("v1.kube.readiness").then(
          () => true,
          () => false,
        ),
      10_000,
      "v1.kube ready",
    );
    const api = gateway.getLocalService("api") as unknown as { server: Server; aliases: { action: string | null }[] };
    await waitUntil(
      () =>
        ["v1.k8s.images.deploy", "v1.k8s.deployments.create", "v1.k8s.envs.pack", "v1.k8s.volumes.status"].every(
          (name) => api.aliases.some((a) => a.action === name),
        ),
      10_000,
      "the gateway publishing every route",
    );
    url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  } catch (err) {
    if (gateway !== services) await gateway.stop();
    await services.stop();
    await sandbox.stop();
    throw err;
  }

  return {
    sandbox,
    services,
    gateway,
    url,
    lines,
    events,
    answers,
    token: (userID, admin = false) => signToken({ userID, admin }, JWT_SECRET),
    async rest(method, path, token, body) {
      const headers: Record<string, string> = {};
      if (token !== undefined) headers.Authorization = `Bearer ${token}`;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const res = await fetch(`${url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
      } catch {
        parsed = { text };
      }
      const answer = { status: res.status, headers: Object.fromEntries(res.headers.entries()), text, body: parsed };
      answers.push(answer);
      return answer;
    },
    async stop() {
      if (gateway !== services) await gateway.stop();
      await services.stop();
      await sandbox.stop();
    },
  };
}
