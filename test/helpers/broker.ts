import type { Context, Middleware, ServiceBroker, ServiceSchema } from "moleculer";

/** A broker middleware that counts the calls of each action reaching this broker's local services, into `calls`. */
export function actionCounter(calls: Map<string, number>): Middleware {
  return {
    name: "ActionCounter",
    localAction(next: (ctx: Context) => Promise<unknown>, action: { name: string }) {
      return (ctx: Context) => {
        calls.set(action.name, (calls.get(action.name) ?? 0) + 1);
        return next(ctx);
      };
    },
  } as unknown as Middleware;
}

/**
 * Replaces the broker's v1.kube with a new one made from `schema` and waits until it is ready: the new one fills its
 * watch cache by listing what the cluster holds, as after a restart of the process.
 */
export async function startKubeAgain(broker: ServiceBroker, schema: ServiceSchema, timeoutMs = 10_000): Promise<void> {
  const kube = broker.getLocalService("v1.kube");
  if (kube === undefined) throw new Error("v1.kube runs on this broker");
  await broker.destroyService(kube);
  broker.createService(schema);
  const deadline = Date.now() + timeoutMs;
  while (
    !(await broker.call("v1.kube.readiness").then(
      () => true,
      () => false,
    ))
  ) {
    if (Date.now() > deadline) throw new Error(`v1.kube not ready again after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
