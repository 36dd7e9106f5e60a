/**
 * The gateway's routes follow the services as they come and go, through its alias index (lib/alias-index.ts, which
 * replaces moleculer-web's linear alias scan): a service that joins after requests were answered is routed, with its
 * path parameters, and once it leaves its routes answer 404 while the others still answer. Over real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { Context, ServiceSchema } from "moleculer";
import { startGateway, type Gateway } from "../../fixtures/gateway.ts";

const sprockets: ServiceSchema = {
  name: "k8s.sprockets",
  version: 1,
  settings: { rest: "/v1/k8s/sprockets" },
  actions: {
    /** Echoes the id of the path. REST: GET /v1/k8s/sprockets/:id @throws nothing */
    get: {
      rest: "GET /:id",
      params: { $$strict: true, id: { type: "string", min: 1 } },
      handler(ctx: Context<{ id: string }>) {
        return { sprocket: ctx.params.id };
      },
    },
    /** Echoes the id and says it spun. REST: POST /v1/k8s/sprockets/:id/spin @throws nothing */
    spin: {
      rest: "POST /:id/spin",
      params: { $$strict: true, id: { type: "string", min: 1 } },
      handler(ctx: Context<{ id: string }>) {
        return { spun: ctx.params.id };
      },
    },
  },
};

let gw: Gateway;
let token: string;

beforeAll(async () => {
  gw = await startGateway();
  token = await gw.token({ userID: "alice" });
});

afterAll(async () => {
  await gw?.stop();
});

/** Waits until `path` answers `status` (the gateway rebuilds its routes a debounce after the registry changes). */
async function until(path: string, status: number, init: { method?: string } = {}): Promise<Response> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const res = await gw.request(path, { ...init, token });
    if (res.status === status) return res;
    if (Date.now() > deadline) throw new Error(`${path} still answers ${res.status}, not ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("the gateway's routes as services come and go", () => {
  it("routes a service that joins after requests were answered, and stops routing it when it leaves", async () => {
    // Requests answered before: the index of the routes as they are now is built.
    expect((await gw.request("/api/v1/k8s/widgets", { token })).status).toBe(200);
    expect((await gw.request("/api/v1/k8s/sprockets/s1", { token })).status).toBe(404);

    const service = gw.broker.createService(sprockets);
    await gw.broker.waitForServices(["v1.k8s.sprockets"], 5000);
    const res = await until("/api/v1/k8s/sprockets/s1", 200);
    expect(await res.json()).toEqual({ sprocket: "s1" });
    const spun = await until("/api/V1/K8S/sprockets/s%202/spin/", 200, { method: "POST" });
    expect(await spun.json()).toEqual({ spun: "s 2" });
    expect((await gw.request("/api/v1/k8s/widgets", { token })).status).toBe(200);

    await gw.broker.destroyService(service);
    await until("/api/v1/k8s/sprockets/s1", 404);
    expect((await gw.request("/api/v1/k8s/widgets", { token })).status).toBe(200);
  });
});
