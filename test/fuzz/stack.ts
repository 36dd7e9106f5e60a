/**
 * The whole suite in one process for the fuzz tests: v1.kube, namespaces, images, volumes, envs, deployments and the
 * gateway (rate limiting off) on one broker with in-memory databases, against a real sandbox. Stop it with `stop()`.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { fileURLToPath } from "node:url";
import { ServiceBroker, type ServiceSchema } from "moleculer";
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
const SECRET = "fuzz-stack-secret-0123456789abcdef0123";

export interface FuzzStack {
  sandbox: Sandbox;
  broker: ServiceBroker;
  /** The gateway's URL, e.g. http://127.0.0.1:40123 */
  url: string;
  token(userID: string, admin?: boolean): Promise<string>;
  stop(): Promise<void>;
}

export async function startFuzzStack(): Promise<FuzzStack> {
  const sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20, jobDurationMs: 50 });
  const broker = new ServiceBroker({
    validator: new ParamValidator(),
    logger: false,
    nodeID: "fuzz",
  });
  const memory = { db: { memory: true } };
  const add = (schema: unknown, extra: Record<string, unknown>) => {
    const typed = schema as ServiceSchema;
    broker.createService({ ...typed, settings: { ...typed.settings, ...extra } });
  };
  add(kubeService, { kubeconfig: sandbox.kubeconfig() });
  add(namespacesService, memory);
  add(imagesService, { ...memory, imagesDir: IMAGES_DIR });
  add(volumesService, memory);
  add(envsService, memory);
  add(deploymentsService, {
    ...memory,
    statusDebounceMs: 20,
    reconciler: { initialBackoffMs: 100, maxBackoffMs: 500, initialResyncDelayMs: -1 },
  });
  const api: typeof ApiService = {
    ...ApiService,
    settings: {
      ...(ApiService.settings as ApiSettings),
      port: 0,
      ip: "127.0.0.1",
      jwtSecret: SECRET,
      debounceTime: 20,
      requestRateLimit: { rate: 0, burst: 0 },
    },
  };
  broker.createService(api);
  try {
    await broker.start();
    await broker.waitForServices(["v1.kube", "v1.k8s.deployments", "v1.k8s.envs", "v1.k8s.volumes"], 10_000);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ok = await broker.call("v1.kube.readiness").then(
        () => true,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error("v1.kube not ready");
      await new Promise((r) => setTimeout(r, 20));
    }
    const api = broker.getLocalService("api") as unknown as { server: Server; aliases: { action: string | null }[] };
    const wanted = ["namespaces", "images", "volumes", "envs", "deployments"].map((s) => `v1.k8s.${s}.create`);
    while (!wanted.every((w) => api.aliases.some((a) => a.action === w))) {
      if (Date.now() > deadline) throw new Error("the gateway did not publish the routes");
      await new Promise((r) => setTimeout(r, 20));
    }
    const url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    return {
      sandbox,
      broker,
      url,
      token: (userID, admin = false) => signToken({ userID, admin }, SECRET),
      async stop() {
        await broker.stop();
        await sandbox.stop();
      },
    };
  } catch (err) {
    await broker.stop();
    await sandbox.stop();
    throw err;
  }
}
