/**
 * A real sandbox cluster (over HTTP) + a real broker running v1.kube against it + a recorder of `kube.**` events.
 * Nothing is stubbed: v1.kube talks to the sandbox with @kubernetes/client-node.
 */
import { ServiceBroker, type Context } from "moleculer";
import { startSandbox, type Sandbox, type SandboxOptions } from "../../../lib/sandbox/index.ts";
import kubeService from "../../../services/kube.service.ts";
import { ParamValidator } from "../../../lib/param-validator.ts";

export interface RecordedEvent {
  name: string;
  payload: Record<string, unknown>;
  at: number;
}

export interface Harness {
  sandbox: Sandbox;
  broker: ServiceBroker;
  events: RecordedEvent[];
  stop(): Promise<void>;
}

export async function startHarness(
  sandboxOptions: SandboxOptions = {},
  kubeSettings: Record<string, unknown> = {},
): Promise<Harness> {
  const sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20, ...sandboxOptions });
  const broker = new ServiceBroker({
    validator: new ParamValidator(),
    logger: false,
    nodeID: `kube-test-${process.pid}-${Date.now()}`,
  });
  const events: RecordedEvent[] = [];
  broker.createService({
    ...kubeService,
    settings: { ...kubeService.settings, kubeconfig: sandbox.kubeconfig(), ...kubeSettings },
  });
  broker.createService({
    name: "recorder",
    events: {
      "kube.**"(ctx: Context<Record<string, unknown>>) {
        events.push({ name: ctx.eventName ?? "", payload: ctx.params, at: Date.now() });
      },
    },
  });
  try {
    await broker.start();
  } catch (err) {
    await sandbox.stop();
    throw err;
  }
  return {
    sandbox,
    broker,
    events,
    stop: async () => {
      await broker.stop();
      await sandbox.stop();
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

export const MANAGED = { "app.kubernetes.io/managed-by": "moleculer-k8s" } as const;

/** A Namespace, a Deployment (nginx), its Service and a ConfigMap, all managed by the suite. */
export function appObjects(ns: string, name = "web", image = "nginx:1.27"): Record<string, unknown>[] {
  const labels = { ...MANAGED, "app.kubernetes.io/name": name, "app.kubernetes.io/instance": `${ns}-${name}` };
  const selector = { "app.kubernetes.io/instance": `${ns}-${name}` };
  return [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: ns, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: { containers: [{ name: "main", image, ports: [{ containerPort: 80 }] }] },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `${name}-service`, namespace: ns, labels },
      spec: { selector, ports: [{ port: 80, targetPort: 80 }] },
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: `${name}-conf`, namespace: ns, labels },
      data: { "default.conf": "server { listen 80; }" },
    },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: { ...MANAGED } } },
  ];
}
