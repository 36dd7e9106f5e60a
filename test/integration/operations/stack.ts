/**
 * The deployments stack (test/integration/deployments/stack.ts: v1.kube against a real sandbox, namespaces, images,
 * volumes, envs, deployments; nothing stubbed) with the real gateway on the same broker, so REST calls and streamed
 * responses stay in one process (no NATS). Alice owns namespace `ops`, Vera is a viewer of it, Mallory is a stranger.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { ServiceSchema } from "moleculer";
import ApiService, { type Settings as ApiSettings } from "../../../services/api.service.ts";
import { signToken } from "../../../lib/auth.ts";
import type { DeploymentEntity, ImageEntity, NamespaceEntity } from "../../../lib/entities.ts";
import { startStack, waitUntil, type Stack, type StackOptions } from "../deployments/stack.ts";

export { waitUntil };

/** The secret of test/integration/deployments/stack.ts (its `token()` signs with it). */
const SECRET = "deployments-stack-secret-0123456789abcdef";

export interface OpsStack extends Stack {
  /** The gateway's URL (same broker as the services). */
  api: string;
  ns: NamespaceEntity;
  nginx: ImageEntity;
  redis: ImageEntity;
  tokens: { alice: string; vera: string; mallory: string };
  /** fetch on the gateway: status, text and (when JSON) the parsed body. */
  http(
    method: string,
    path: string,
    token: string,
    body?: unknown,
    init?: RequestInit,
  ): Promise<{ status: number; text: string; json: Record<string, unknown>; headers: Headers }>;
  /** Creates a deployment of nginx in `ops` as Alice (REST) and waits until it is Available. */
  deploy(name: string, extra?: Record<string, unknown>): Promise<DeploymentEntity>;
  /** Waits until the record's status phase is `phase`. */
  phase(id: string, phase: string, timeoutMs?: number): Promise<DeploymentEntity>;
}

export async function startOpsStack(options: StackOptions = {}): Promise<OpsStack> {
  const gateway = {
    ...ApiService,
    settings: {
      ...(ApiService.settings as ApiSettings),
      port: 0,
      ip: "127.0.0.1",
      jwtSecret: SECRET,
      debounceTime: 20,
      requestRateLimit: { rate: 0, burst: 0 },
    } satisfies ApiSettings,
  } as unknown as Partial<ServiceSchema>;
  const stack = await startStack({
    ...options,
    settings: { deployments: { maxReplicas: 4, ...options.settings?.deployments }, ...options.settings },
    extra: [...(options.extra ?? []), gateway],
  });
  try {
    const api = stack.services.getLocalService("api") as unknown as {
      server: Server;
      aliases: { action: string | null }[];
    };
    await waitUntil(
      () => api.aliases.some((a) => a.action === "v1.k8s.deployments.rollback"),
      10_000,
      "the gateway publishing the deployments routes",
    );
    const url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    const ns = await stack.services.call<NamespaceEntity, Record<string, unknown>>("v1.k8s.namespaces.create", {
      name: "ops",
      owner: "alice",
    });
    await stack.services.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "vera", role: "viewer" });
    const nginx = await stack.services.call<ImageEntity, { name: string }>("v1.k8s.images.resolveName", {
      name: "nginx-1-27",
    });
    const redis = await stack.services.call<ImageEntity, { name: string }>("v1.k8s.images.resolveName", {
      name: "redis-7-4",
    });
    await waitUntil(async () => (await stack.kubectl("get", "ns", "ops")).code === 0, 10_000, "namespace ops");
    const tokens = {
      alice: await signToken({ userID: "alice" }, SECRET),
      vera: await signToken({ userID: "vera" }, SECRET),
      mallory: await signToken({ userID: "mallory" }, SECRET),
    };
    const http: OpsStack["http"] = async (method, path, token, body, init = {}) => {
      const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const res = await fetch(`${url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...init,
      });
      const text = await res.text();
      let json: Record<string, unknown> = {};
      if ((res.headers.get("content-type") ?? "").includes("json") && text !== "") {
        json = JSON.parse(text) as Record<string, unknown>;
      }
      return { status: res.status, text, json, headers: res.headers };
    };
    const phase: OpsStack["phase"] = (id, wanted, timeoutMs = 10_000) =>
      waitUntil(
        async () => {
          const d = await stack.services.call<DeploymentEntity, { id: string }>("v1.k8s.deployments.get", { id });
          return d.status.phase === wanted ? d : undefined;
        },
        timeoutMs,
        `deployment ${id} ${wanted}`,
      );
    const deploy: OpsStack["deploy"] = async (name, extra = {}) => {
      const res = await http("POST", "/api/v1/k8s/deployments", tokens.alice, {
        name,
        namespace: ns.id,
        image: nginx.id,
        ...extra,
      });
      if (res.status !== 200) throw new Error(`create ${name}: ${res.status} ${res.text}`);
      const created = res.json as unknown as DeploymentEntity;
      if (created.replicas === 0) return created;
      return phase(created.id, "Available");
    };
    // The stack object itself (its `sandbox` getter follows restarts), with the extras.
    return Object.assign(stack, { api: url, ns, nginx, redis, tokens, http, deploy, phase });
  } catch (err) {
    await stack.stop();
    throw err;
  }
}
