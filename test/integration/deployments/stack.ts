/**
 * The whole suite against a real sandbox: v1.kube, namespaces, images, volumes, envs and deployments on one broker
 * (in-memory NeDB), optionally with the gateway on a second broker over NATS (the domain services apart from it), and
 * kubectl pointed at the sandbox. Nothing is stubbed. Stop it with `stop()` in afterAll.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { Loggers, ServiceBroker, type BrokerOptions, type ServiceSchema } from "moleculer";
import { startSandbox, type Sandbox, type SandboxOptions } from "../../../lib/sandbox/index.ts";
import { signToken } from "../../../lib/auth.ts";
import ApiService, { type Settings as ApiSettings } from "../../../services/api.service.ts";
import kubeService from "../../../services/kube.service.ts";
import namespacesService from "../../../services/namespaces.service.ts";
import imagesService from "../../../services/images.service.ts";
import deploymentsService from "../../../services/deployments.service.ts";
import { ParamValidator } from "../../../lib/param-validator.ts";

const SERVICES_DIR = fileURLToPath(new URL("../../../services/", import.meta.url));
const IMAGES_DIR = fileURLToPath(new URL("../../../images/", import.meta.url));
const NATS = (process.env.NATS_URL ?? "nats://127.0.0.1:4222") as NonNullable<BrokerOptions["transporter"]>;
const SECRET = "deployments-stack-secret-0123456789abcdef";

export interface StackOptions {
  /** Run the gateway on its own broker, joined to the services' broker over NATS. */
  gateway?: boolean;
  sandbox?: SandboxOptions;
  /** Extra settings per service short name (`deployments`, `namespaces`, ...). */
  settings?: Record<string, Record<string, unknown>>;
  /** Extra services on the services' broker. */
  extra?: Partial<ServiceSchema>[];
  /** Services on the gateway's broker (with `gateway: true`): callers whose calls cross NATS. */
  gatewayServices?: Partial<ServiceSchema>[];
  /** Record every log line of the services' broker (all levels) in `lines`. */
  recordLogs?: boolean;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Stack {
  /** The running sandbox (a new object after `restartSandbox`). */
  readonly sandbox: Sandbox;
  /** Stops the sandbox: the cluster goes away, the brokers keep running. */
  stopSandbox(): Promise<void>;
  /** Starts the sandbox again on the same port with the same token (and its objects, with `sandbox.stateFile`). */
  restartSandbox(): Promise<void>;
  /** The broker of the domain services and v1.kube. */
  services: ServiceBroker;
  /** The gateway's broker (with `gateway: true`), else the services' broker. */
  gatewayBroker: ServiceBroker;
  /** Every log line of the services' broker, when started with `recordLogs`. */
  lines: string[];
  /** The gateway's URL when started with `gateway: true`. */
  url: string;
  kubeconfigPath: string;
  /** A bearer token for `userID`. */
  token(userID: string, admin?: boolean): Promise<string>;
  /** fetch on the gateway with a token and a JSON body; answers status and parsed JSON. */
  rest(
    method: string,
    path: string,
    token: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  /** /usr/bin/kubectl against the sandbox. */
  kubectl(...args: string[]): Promise<KubectlResult>;
  /** kubectl … -o json, parsed. */
  kubectlJson<T = { items: Record<string, unknown>[] }>(...args: string[]): Promise<T>;
  stop(): Promise<void>;
}

/** A logger that keeps every line (all levels, objects rendered in full). */
class RecordingLogger extends Loggers.Base<{ level?: "trace" }> {
  readonly lines: string[] = [];
  override getLogHandler(bindings: { mod?: string }): (type: string, args: unknown[]) => void {
    return (type, args) => {
      const text = args
        .map((a) => (typeof a === "string" ? a : inspect(a, { depth: null, breakLength: Infinity })))
        .join(" ");
      this.lines.push(`${type} [${bindings.mod ?? ""}] ${text}`);
    };
  }
}

/** The optional services that exist in this checkout (volumes and envs arrive with their own issues). */
async function optionalService(file: string): Promise<Partial<ServiceSchema> | undefined> {
  const full = path.join(SERVICES_DIR, file);
  if (!existsSync(full)) return undefined;
  const mod = (await import(full)) as { default: Partial<ServiceSchema> };
  return mod.default;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  let sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20, ...options.sandbox });
  let sandboxRunning = true;
  const dir = await mkdtemp(path.join(os.tmpdir(), "deployments-stack-"));
  const kubeconfigPath = path.join(dir, "kubeconfig");
  await sandbox.writeKubeconfig(kubeconfigPath);
  const brokerNamespace = `deploy-${randomBytes(4).toString("hex")}`;
  const transport: BrokerOptions =
    options.gateway === true
      ? { namespace: brokerNamespace, transporter: NATS, nodeID: `${brokerNamespace}-services` }
      : { nodeID: `${brokerNamespace}-services` };
  const recorder = new RecordingLogger({ level: "trace" });
  const services = new ServiceBroker({
    validator: new ParamValidator(),
    logger: options.recordLogs === true ? recorder : false,
    ...transport,
  });
  const settingsOf = (short: string, base: object | undefined, extra: Record<string, unknown>) => ({
    ...base,
    ...extra,
    ...options.settings?.[short],
  });
  const memory = { db: { memory: true } };
  const add = (schema: unknown, short: string, extra: Record<string, unknown>) => {
    const typed = schema as ServiceSchema;
    services.createService({ ...typed, settings: settingsOf(short, typed.settings, extra) });
  };
  add(kubeService, "kube", { kubeconfig: sandbox.kubeconfig() });
  add(namespacesService, "namespaces", memory);
  add(imagesService, "images", { ...memory, imagesDir: IMAGES_DIR });
  for (const [short, file] of [
    ["volumes", "volumes.service.ts"],
    ["envs", "envs.service.ts"],
  ] as const) {
    const schema = await optionalService(file);
    if (schema !== undefined) add(schema, short, memory);
  }
  add(deploymentsService, "deployments", {
    ...memory,
    statusDebounceMs: 20,
    reconciler: { initialBackoffMs: 100, maxBackoffMs: 500, initialResyncDelayMs: -1 },
  });
  for (const extra of options.extra ?? []) services.createService(extra as ServiceSchema);

  let gateway: ServiceBroker | undefined;
  let url = "";
  try {
    await services.start();
    await services.waitForServices(["v1.kube", "v1.k8s.deployments"], 10_000);
    await waitUntil(
      () =>
        services.call("v1.kube.readiness").then(
          () => true,
          () => false,
        ),
      10_000,
      "v1.kube ready",
    );
    if (options.gateway === true) {
      gateway = new ServiceBroker({
        validator: new ParamValidator(),
        logger: false,
        namespace: brokerNamespace,
        transporter: NATS,
        nodeID: `${brokerNamespace}-gateway`,
      });
      for (const svc of options.gatewayServices ?? []) gateway.createService(svc as ServiceSchema);
      gateway.createService({
        ...ApiService,
        settings: {
          ...(ApiService.settings as ApiSettings),
          port: 0,
          ip: "127.0.0.1",
          jwtSecret: SECRET,
          debounceTime: 20,
        },
      });
      await gateway.start();
      await gateway.waitForServices(["v1.k8s.deployments", "v1.k8s.images", "v1.k8s.namespaces"], 10_000);
      const api = gateway.getLocalService("api") as unknown as {
        server: Server;
        aliases: { action: string | null }[];
      };
      await waitUntil(
        () => api.aliases.some((a) => a.action === "v1.k8s.images.deploy"),
        10_000,
        "the gateway publishing the remote routes",
      );
      url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    }
  } catch (err) {
    await gateway?.stop();
    await services.stop();
    await sandbox.stop();
    throw err;
  }

  const kubectl = (...args: string[]): Promise<KubectlResult> =>
    new Promise((resolve) => {
      execFile(
        "/usr/bin/kubectl",
        ["--kubeconfig", kubeconfigPath, ...args],
        { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
          resolve({ code, stdout, stderr });
        },
      );
    });

  return {
    get sandbox() {
      return sandbox;
    },
    async stopSandbox() {
      await sandbox.stop();
      sandboxRunning = false;
    },
    async restartSandbox() {
      const port = Number(new URL(sandbox.url).port);
      sandbox = await startSandbox({ podReadyDelayMs: 20, ...options.sandbox, port, token: sandbox.token });
      sandboxRunning = true;
    },
    services,
    gatewayBroker: gateway ?? services,
    lines: recorder.lines,
    url,
    kubeconfigPath,
    token: (userID, admin = false) => signToken({ userID, admin }, SECRET),
    async rest(method, p, token, body) {
      const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const res = await fetch(`${url}${p}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: (text === "" ? {} : JSON.parse(text)) as Record<string, unknown> };
    },
    kubectl,
    async kubectlJson<T>(...args: string[]): Promise<T> {
      const res = await kubectl(...args, "-o", "json");
      if (res.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${res.stderr}`);
      return JSON.parse(res.stdout) as T;
    },
    async stop() {
      await gateway?.stop();
      await services.stop();
      if (sandboxRunning) await sandbox.stop();
      await rm(dir, { recursive: true, force: true });
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
