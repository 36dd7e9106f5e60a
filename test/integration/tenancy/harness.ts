/**
 * A real sandbox cluster, a broker with v1.kube (given the sandbox's kubeconfig) and the tenancy services
 * (v1.k8s.namespaces, v1.k8s.volumes) on in-memory databases, and kubectl against the same sandbox.
 * Nothing is stubbed. Stop it with `stop()` in afterAll.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ServiceBroker, type BrokerOptions, type ServiceSchema } from "moleculer";
import { startSandbox, type Sandbox, type SandboxOptions } from "../../../lib/sandbox/index.ts";
import kubeService from "../../../services/kube.service.ts";
import namespacesService from "../../../services/namespaces.service.ts";
import volumesService from "../../../services/volumes.service.ts";
import { asMixin, type MixinSchema } from "../../../mixins/db.mixin.ts";
import { ParamValidator } from "../../../lib/param-validator.ts";

const run = promisify(execFile);

/** Fast reconciler settings for tests: retries from 50 ms, capped at 200 ms; no periodic resync unless asked. */
export const FAST_RECONCILER = {
  resyncIntervalSeconds: 0,
  reconciler: { initialBackoffMs: 50, maxBackoffMs: 200, initialResyncDelayMs: -1 },
};

export interface TenancyOptions {
  sandbox?: SandboxOptions;
  /** Extra settings of the tenancy services. */
  settings?: Record<string, unknown>;
  broker?: BrokerOptions;
  /** Which services this broker runs (default all three). */
  services?: readonly ("kube" | "namespaces" | "volumes")[];
}

export interface Tenancy {
  /** The running sandbox (a new one after `startSandboxAgain`). */
  sandbox: Sandbox;
  /** Stops the sandbox: the cluster is unreachable until `startSandboxAgain`. */
  stopSandbox(): Promise<void>;
  /** Starts an empty sandbox on the same port with the same token (v1.kube's kubeconfig stays valid). */
  startSandboxAgain(): Promise<void>;
  broker: ServiceBroker;
  kubeconfigPath: string;
  /** Runs kubectl against the sandbox; resolves stdout (rejects with stderr on a non-zero exit). */
  kubectl(...args: string[]): Promise<string>;
  /** kubectl that resolves `{ code, stdout, stderr }` whatever the exit code. */
  kubectlRaw(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** The service schemas with test settings (memory database, fast reconciler). */
export function tenancySchemas(
  kubeconfig: string,
  extra: Record<string, unknown> = {},
): Record<"kube" | "namespaces" | "volumes", ServiceSchema> {
  const settings: Record<string, unknown> = { db: { memory: true }, ...FAST_RECONCILER, ...extra };
  const tenancy = (schema: MixinSchema): ServiceSchema => ({
    name: schema.name ?? "",
    version: 1,
    mixins: [schema],
    settings,
  });
  return {
    kube: {
      ...kubeService,
      settings: { ...kubeService.settings, kubeconfig, watchBackoff: { initialMs: 50, maxMs: 200 } },
    } as unknown as ServiceSchema,
    namespaces: tenancy(asMixin(namespacesService)),
    volumes: tenancy(asMixin(volumesService)),
  };
}

export async function startTenancy(opts: TenancyOptions = {}): Promise<Tenancy> {
  const sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20, ...opts.sandbox });
  const dir = await mkdtemp(path.join(tmpdir(), "tenancy-"));
  const kubeconfigPath = path.join(dir, "kubeconfig");
  await writeFile(kubeconfigPath, sandbox.kubeconfig());
  const broker = new ServiceBroker({
    validator: new ParamValidator(),
    logger: false,
    ...opts.broker,
  });
  const schemas = tenancySchemas(sandbox.kubeconfig(), opts.settings);
  for (const name of opts.services ?? (["kube", "namespaces", "volumes"] as const)) broker.createService(schemas[name]);
  try {
    await broker.start();
    await waitFor(
      () =>
        broker.call("v1.kube.readiness").then(
          () => true,
          () => false,
        ),
      5000,
      "v1.kube readiness",
    );
  } catch (err) {
    await broker.stop();
    await sandbox.stop();
    throw err;
  }
  const kubectlRaw = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run("/usr/bin/kubectl", ["--kubeconfig", kubeconfigPath, ...args], {
        timeout: 20_000,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: unknown; stdout?: string; stderr?: string };
      return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
    }
  };
  const port = Number(new URL(sandbox.url).port);
  let running: Sandbox | undefined = sandbox;
  const tenancy: Tenancy = {
    sandbox,
    broker,
    kubeconfigPath,
    kubectlRaw,
    kubectl: async (...args) => {
      const res = await kubectlRaw(...args);
      if (res.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${res.code}): ${res.stderr}`);
      return res.stdout;
    },
    stopSandbox: async () => {
      const current = running;
      running = undefined;
      await current?.stop();
    },
    startSandboxAgain: async () => {
      if (running !== undefined) return;
      running = await startSandbox({ podReadyDelayMs: 20, ...opts.sandbox, port, token: sandbox.token });
      tenancy.sandbox = running;
    },
    stop: async () => {
      await broker.stop();
      await running?.stop();
      running = undefined;
      await rm(dir, { recursive: true, force: true });
    },
  };
  return tenancy;
}

/** Polls `check` until it returns a value other than undefined/false (every 20 ms, up to `timeoutMs`). */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
  what = "condition",
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
      throw new Error(`timed out waiting for ${what}${last === undefined ? "" : `: ${String(last)}`}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The id of the record named `name` once the service has stored it (a create still under way, for race tests). */
export async function storedId(
  svc: { findRaw(query: object): Promise<{ _id: string }[]> },
  name: string,
): Promise<string> {
  const [stored] = await waitFor(
    async () => {
      const found = await svc.findRaw({ name });
      return found.length > 0 ? found : undefined;
    },
    5000,
    `the record ${name} stored`,
  );
  return stored?._id ?? "";
}

/** Calling options as a signed-in person. */
export function as(userID: string, roles: string[] = []) {
  return { meta: { userID, roles } };
}
