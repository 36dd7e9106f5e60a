/**
 * Two brokers over NATS (127.0.0.1:4222, as on these machines and in .ci/run): the gateway on one node, the record
 * services on the other. Users' REST calls must behave exactly as in one process.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { ServiceBroker, type BrokerOptions } from "moleculer";
import ApiService, { type Settings } from "../../services/api.service.ts";
import { signToken } from "../../lib/auth.ts";
import { createRecordsBroker } from "../helpers/records.ts";

const NATS = (process.env.NATS_URL ?? "nats://127.0.0.1:4222") as NonNullable<BrokerOptions["transporter"]>;
const SECRET = "two-nodes-test-secret-0123456789abcdef";

describe("gateway and services on two nodes over NATS", () => {
  const namespace = `e2e-${randomBytes(4).toString("hex")}`;
  let gatewayNode: ServiceBroker;
  let servicesNode: ServiceBroker;
  let url: string;
  let alice: string;
  let bob: string;

  const call = async (path: string, token?: string, init: { method?: string; body?: unknown } = {}) => {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(`${url}${path}`, {
      method: init.method ?? "GET",
      headers,
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    servicesNode = await createRecordsBroker({
      broker: { namespace, nodeID: `${namespace}-services`, transporter: NATS },
    });
    gatewayNode = new ServiceBroker({ logger: false, namespace, nodeID: `${namespace}-gateway`, transporter: NATS });
    gatewayNode.createService({
      ...ApiService,
      settings: { ...(ApiService.settings as Settings), port: 0, ip: "127.0.0.1", jwtSecret: SECRET, debounceTime: 20 },
    });
    await gatewayNode.start();
    await gatewayNode.waitForServices(["v1.k8s.namespaces", "v1.k8s.images"], 10_000);
    const api = gatewayNode.getLocalService("api") as unknown as {
      server: Server;
      aliases: { action: string | null }[];
    };
    const deadline = Date.now() + 10_000;
    while (!api.aliases.some((a) => a.action === "v1.k8s.namespaces.create")) {
      if (Date.now() > deadline) throw new Error("the gateway did not publish the remote routes");
      await new Promise((r) => setTimeout(r, 20));
    }
    url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    alice = await signToken({ userID: "alice" }, SECRET);
    bob = await signToken({ userID: "bob" }, SECRET);
  }, 30_000);

  afterAll(async () => {
    await gatewayNode?.stop();
    await servicesNode?.stop();
  });

  it("runs no record service on the gateway node", () => {
    expect(gatewayNode.getLocalService("v1.k8s.namespaces")).toBeFalsy();
    expect(servicesNode.getLocalService("v1.k8s.namespaces")).toBeTruthy();
  });

  it("creates, reads and lists a namespace through the remote node", async () => {
    const created = await call("/api/v1/k8s/namespaces", alice, { method: "POST", body: { name: "team-a" } });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ name: "team-a", owner: "alice" });
    const id = created.body.id as string;

    const fetched = await call(`/api/v1/k8s/namespaces/${id}`, alice);
    expect(fetched).toMatchObject({ status: 200, body: { id, name: "team-a" } });

    const listed = await call("/api/v1/k8s/namespaces", alice);
    expect(listed.status).toBe(200);
    expect((listed.body.rows as { id: string }[]).map((r) => r.id)).toEqual([id]);
  });

  it("keeps membership across nodes: a stranger gets 404 and an empty list", async () => {
    const created = await call("/api/v1/k8s/namespaces", alice, { method: "POST", body: { name: "team-b" } });
    const id = created.body.id as string;
    expect(await call(`/api/v1/k8s/namespaces/${id}`, bob)).toMatchObject({
      status: 404,
      body: { name: "MoleculerClientError", code: 404, type: "NOT_FOUND" },
    });
    const listed = await call("/api/v1/k8s/namespaces", bob);
    expect(listed.body.rows).toEqual([]);
  });

  it("answers 409 for a taken name and 422 naming the field, with the error's class intact", async () => {
    await call("/api/v1/k8s/namespaces", alice, { method: "POST", body: { name: "team-c" } });
    const taken = await call("/api/v1/k8s/namespaces", bob, { method: "POST", body: { name: "team-c" } });
    expect(taken).toMatchObject({ status: 409, body: { code: 409, type: "ALREADY_EXISTS" } });

    const bad = await call("/api/v1/k8s/namespaces", alice, { method: "POST", body: { name: "Team_C" } });
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ name: "ValidationError", type: "VALIDATION_ERROR" });
    expect(JSON.stringify(bad.body.data)).toContain('"field":"name"');
  });

  it("serves the image catalog from the remote node", async () => {
    const resolved = await call("/api/v1/k8s/images/resolve/php-8-1-0-fpm", alice);
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({ name: "php-8-1-0-fpm", image: "php:8.1.0-fpm" });
    expect(resolved.body.ports).toEqual([expect.objectContaining({ port: 9000 })]);
  });

  it("still refuses a request without a token (401) before anything crosses the wire", async () => {
    expect(await call("/api/v1/k8s/namespaces")).toMatchObject({ status: 401, body: { code: 401 } });
  });
});
