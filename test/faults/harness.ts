/**
 * What the fault tests share (docs/reliability.md, "Faults"): the suite as users run it, in separate processes —
 * a dedicated nats-server, the sandbox API server (`scripts/sandbox.ts`), a gateway node and a services node
 * (`scripts/start.ts`) — and the figures each fault reports: acknowledged writes, lost writes, orphans, time to
 * converge.
 *
 * `Stack` owns everything a test starts (processes, one temp dir) and `cleanup()` ends all of it: SIGTERM, then
 * SIGKILL after a grace period, then the temp dir is removed. Processes are tracked by their own ChildProcess object,
 * never by name.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { signToken } from "../../lib/auth.ts";
import { freePort } from "../helpers/net.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const JWT_SECRET = "fault-tests-secret-0123456789abcdef0123";
export const MANAGED_BY_SELECTOR = "app.kubernetes.io/managed-by=moleculer-k8s";
export const ID_ANNOTATION = "moleculer-k8s/id";

/** The nats-server binary: NATS_SERVER, the one on PATH, or Debian's /usr/sbin/nats-server. */
export function natsServerBinary(): string {
  if (process.env.NATS_SERVER !== undefined && process.env.NATS_SERVER !== "") return process.env.NATS_SERVER;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, "nats-server");
    if (dir !== "" && existsSync(candidate)) return candidate;
  }
  return "/usr/sbin/nats-server";
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined/false; throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not within ${timeoutMs} ms${last === undefined ? "" : ` (last error: ${String(last)})`}`,
      );
    }
    await sleep(everyMs);
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export interface Proc {
  name: string;
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string | null>;
}

export interface SandboxProc {
  proc: Proc;
  port: number;
  /** http://127.0.0.1:port (the same port speaks https, which the kubeconfig uses). */
  url: string;
  token: string;
  kubeconfig: string;
  stateFile: string;
}

/** Node (scripts/start.ts) environment every fault test uses: quiet logs, no metrics port, no rate limit. */
function nodeEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    METRICS_PORT: "0",
    LOG_LEVEL: "warn",
    RATE_LIMIT: "0",
    JWT_SECRET,
    ...extra,
  };
  // The suite must not pick up a cluster or a database from the machine running the tests.
  if (extra.MONGO_URI === undefined) delete env.MONGO_URI;
  if (extra.KUBECONFIG === undefined) delete env.KUBECONFIG;
  return env;
}

export class Stack {
  readonly dir: string;
  readonly brokerNamespace: string;
  readonly #procs = new Set<Proc>();

  private constructor(dir: string, brokerNamespace: string) {
    this.dir = dir;
    this.brokerNamespace = brokerNamespace;
  }

  static async create(prefix: string): Promise<Stack> {
    const dir = await mkdtemp(path.join(os.tmpdir(), `fault-${prefix}-`));
    return new Stack(dir, `fault-${prefix}-${randomBytes(3).toString("hex")}`);
  }

  spawn(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): Proc {
    let output = "";
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    const append = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout?.on("data", append);
    child.stderr?.on("data", append);
    const exited = new Promise<number | string | null>((resolve) => {
      child.once("exit", (code, signal) => resolve(code ?? signal));
      child.once("error", (err) => {
        append(Buffer.from(`spawn failed: ${err.message}\n`));
        resolve("error");
      });
    });
    const proc: Proc = { name, child, output: () => output, exited };
    this.#procs.add(proc);
    void exited.then(() => this.#procs.delete(proc));
    return proc;
  }

  /** Stops one process: `signal` (SIGTERM), then SIGKILL after `graceMs`. Resolves with its exit code or signal. */
  async stop(
    proc: Proc | undefined,
    signal: NodeJS.Signals = "SIGTERM",
    graceMs = 10_000,
  ): Promise<number | string | null> {
    if (proc === undefined) return null;
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return proc.exited;
    proc.child.kill(signal);
    const timer = setTimeout(() => proc.child.kill("SIGKILL"), graceMs);
    const result = await proc.exited;
    clearTimeout(timer);
    return result;
  }

  /** A dedicated nats-server on `port` (a free one by default), answering once it accepts connections. */
  async startNats(port?: number): Promise<{ proc: Proc; port: number; url: string }> {
    const p = port ?? (await freePort());
    const proc = this.spawn("nats", natsServerBinary(), ["-a", "127.0.0.1", "-p", String(p)], process.env);
    await waitFor(`nats-server on port ${p}`, () => portOpen(p), 10_000, 50).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${proc.output()}`);
    });
    return { proc, port: p, url: `nats://127.0.0.1:${p}` };
  }

  /** The sandbox API server as its own process, saving its objects to `stateFile` on SIGTERM (kept across restarts). */
  async startSandbox(previous?: SandboxProc): Promise<SandboxProc> {
    const port = previous?.port ?? (await freePort());
    const token = previous?.token ?? randomBytes(18).toString("base64url");
    const kubeconfig = previous?.kubeconfig ?? path.join(this.dir, "kubeconfig");
    const stateFile = previous?.stateFile ?? path.join(this.dir, "sandbox-state.json");
    const proc = this.spawn("sandbox", process.execPath, [path.join(ROOT, "scripts/sandbox.ts")], {
      ...process.env,
      SANDBOX_PORT: String(port),
      SANDBOX_TOKEN: token,
      SANDBOX_STATE: stateFile,
      SANDBOX_KUBECONFIG: kubeconfig,
    });
    await waitFor(
      "the sandbox's kubeconfig",
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`sandbox exited:\n${proc.output()}`);
        return proc.output().includes("kubeconfig written");
      },
      20_000,
      50,
    );
    return { proc, port, url: `http://127.0.0.1:${port}`, token, kubeconfig, stateFile };
  }

  /** `node scripts/start.ts` with the suite's environment plus `env` (SERVICES, TRANSPORTER, DATA_DIR, ...). */
  startNode(name: string, env: Record<string, string>): Proc {
    return this.spawn(
      name,
      process.execPath,
      [path.join(ROOT, "scripts/start.ts")],
      nodeEnv({ BROKER_NAMESPACE: this.brokerNamespace, NODE_ID: `${this.brokerNamespace}-${name}`, ...env }),
    );
  }

  /** Everything this stack started is stopped (SIGTERM, SIGKILL after 5 s) and its temp dir removed. */
  async cleanup(): Promise<void> {
    await Promise.all([...this.#procs].map((p) => this.stop(p, "SIGTERM", 5_000)));
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Output of every process still running, for a failure message. */
  outputs(): string {
    return [...this.#procs].map((p) => `--- ${p.name}\n${p.output().slice(-4000)}`).join("\n");
  }
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  ms: number;
}

/** REST calls to the gateway with one user's token; network failures are answered as status 0. */
export class Rest {
  readonly base: string;
  readonly userID: string;
  readonly #token: string;

  private constructor(base: string, userID: string, token: string) {
    this.base = base;
    this.userID = userID;
    this.#token = token;
  }

  static async as(base: string, userID: string, admin = false): Promise<Rest> {
    return new Rest(base, userID, await signToken({ userID, admin }, JWT_SECRET));
  }

  async call(method: string, route: string, body?: unknown, timeoutMs = 40_000): Promise<Answer> {
    const started = Date.now();
    try {
      const res = await fetch(`${this.base}/api${route}`, {
        method,
        headers: {
          Authorization: `Bearer ${this.#token}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = { notJson: text.slice(0, 200) };
      }
      return { status: res.status, body: parsed, ms: Date.now() - started };
    } catch (err) {
      return { status: 0, body: { error: String(err) }, ms: Date.now() - started };
    }
  }

  /** Every record of a resource (`namespaces`, `volumes`, `deployments`, ...), page by page; throws unless 200. */
  async all(resource: string): Promise<Record<string, unknown>[]> {
    const rows: Record<string, unknown>[] = [];
    for (let page = 1; ; page += 1) {
      const res = await this.call("GET", `/v1/k8s/${resource}?pageSize=100&page=${page}`);
      if (res.status !== 200) throw new Error(`GET ${resource}: ${res.status} ${JSON.stringify(res.body)}`);
      const list = res.body as { rows: Record<string, unknown>[]; totalPages: number };
      rows.push(...list.rows);
      if (page >= list.totalPages) return rows;
    }
  }
}

/** Waits until the gateway is ready and routes `probePath` to the services node (200). */
export async function waitGateway(rest: Rest, timeoutMs: number, probePath = "/v1/k8s/namespaces"): Promise<number> {
  const started = Date.now();
  await waitFor(
    "the gateway ready and routing",
    async () => {
      const ready = await fetch(`${rest.base}/api/ready`).then(
        (r) => r.status,
        () => 0,
      );
      return ready === 200 && (await rest.call("GET", probePath, undefined, 5_000)).status === 200;
    },
    timeoutMs,
    100,
  );
  return Date.now() - started;
}

/** The status of GET /api/ready (0 when the gateway does not answer). */
export async function readyStatus(base: string): Promise<number> {
  return fetch(`${base}/api/ready`, { signal: AbortSignal.timeout(5_000) }).then(
    async (r) => {
      await r.text();
      return r.status;
    },
    () => 0,
  );
}

/** The kinds the suite applies (not the pods and ReplicaSets the sandbox's controllers make from them). */
const OWNED_KINDS = [
  { kind: "Namespace", path: "/api/v1/namespaces" },
  { kind: "ResourceQuota", path: "/api/v1/resourcequotas" },
  { kind: "LimitRange", path: "/api/v1/limitranges" },
  { kind: "PersistentVolumeClaim", path: "/api/v1/persistentvolumeclaims" },
  { kind: "ConfigMap", path: "/api/v1/configmaps" },
  { kind: "Secret", path: "/api/v1/secrets" },
  { kind: "Service", path: "/api/v1/services" },
  { kind: "Deployment", path: "/apis/apps/v1/deployments" },
  { kind: "Ingress", path: "/apis/networking.k8s.io/v1/ingresses" },
] as const;

export interface ClusterObject {
  kind: string;
  namespace: string | undefined;
  name: string;
  id: string | undefined;
  deleting: boolean;
  raw: Record<string, unknown>;
}

/** Every object labelled as ours in the sandbox, read straight from its API (not through the suite). */
export async function managedObjects(sandbox: SandboxProc): Promise<ClusterObject[]> {
  const out: ClusterObject[] = [];
  for (const { kind, path: p } of OWNED_KINDS) {
    const res = await fetch(`${sandbox.url}${p}?labelSelector=${encodeURIComponent(MANAGED_BY_SELECTOR)}`, {
      headers: { Authorization: `Bearer ${sandbox.token}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`list ${kind}: ${res.status} ${await res.text()}`);
    const list = (await res.json()) as { items: Record<string, unknown>[] };
    for (const item of list.items) {
      const meta = (item.metadata ?? {}) as {
        name?: string;
        namespace?: string;
        annotations?: Record<string, string>;
        deletionTimestamp?: string;
      };
      out.push({
        kind,
        namespace: meta.namespace,
        name: meta.name ?? "",
        id: meta.annotations?.[ID_ANNOTATION],
        deleting: meta.deletionTimestamp !== undefined,
        raw: item,
      });
    }
  }
  return out;
}

/** Objects of ours whose id annotation names no record (objects being deleted are not counted). */
export function orphansOf(objects: ClusterObject[], recordIds: ReadonlySet<string>): ClusterObject[] {
  return objects.filter((o) => !o.deleting && (o.id === undefined || !recordIds.has(o.id)));
}

/** Keys that occur more than once (records created twice). */
export function duplicates(keys: string[]): string[] {
  const seen = new Map<string, number>();
  for (const k of keys) seen.set(k, (seen.get(k) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
}

export interface FaultFigures {
  fault: string;
  attempted: number;
  acknowledged: number;
  failedCleanly: number;
  lost: number;
  orphans: number;
  duplicates: number;
  convergeMs: number;
  [extra: string]: string | number;
}

/** Prints a fault's figures on one line (`FAULT {json}`), as the CI log and docs/reliability.md quote them. */
export function report(figures: FaultFigures): FaultFigures {
  console.log(`FAULT ${JSON.stringify(figures)}`);
  return figures;
}

/** A clean failure: a JSON error body with a 503 (retryable) or a 504 (timeout), never a 500 or a dropped socket. */
export function isCleanFailure(answer: Answer): boolean {
  const type = answer.body.type;
  if (answer.status === 503) return answer.body.code === 503 && typeof type === "string";
  if (answer.status === 504) return answer.body.code === 504 && typeof type === "string";
  return false;
}

/**
 * The tenant every fault test works in: a namespace owned by `rest`'s user with room for the test's pods (`quota`,
 * which only an admin sets: `admin` creates it for the owner), and the catalog's nginx image id. Throws (failing the
 * test's beforeAll) when the namespace is not created.
 */
export async function seedTenant(
  rest: Rest,
  admin: Rest,
  name: string,
  quota: Record<string, number>,
): Promise<{ nsId: string; imageId: string }> {
  const ns = await admin.call("POST", "/v1/k8s/namespaces", { name, owner: rest.userID, quota });
  if (ns.status !== 200) throw new Error(`namespace ${name} not created: ${ns.status} ${JSON.stringify(ns.body)}`);
  const image = await rest.call("GET", "/v1/k8s/images/resolve/nginx-1-27");
  return { nsId: String(ns.body.id), imageId: String(image.body.id) };
}
