/**
 * Two brokers over NATS: the gateway on one node; v1.kube, v1.k8s.namespaces and v1.k8s.volumes on the other, against a
 * real sandbox. REST behaves as in one process; the watch's events reach the services across the transporter.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { ServiceBroker, type BrokerOptions } from "moleculer";
import ApiService, { type Settings } from "../../../services/api.service.ts";
import { signToken } from "../../../lib/auth.ts";
import { startTenancy, waitFor, type Tenancy } from "./harness.ts";

const NATS = (process.env.NATS_URL ?? "nats://127.0.0.1:4222") as NonNullable<BrokerOptions["transporter"]>;
const SECRET = "tenancy-two-nodes-secret-0123456789abcdef";
const namespace = `tenancy-${randomBytes(4).toString("hex")}`;

let t: Tenancy;
let gatewayNode: ServiceBroker;
let url: string;
let alice: string;

async function api(p: string, init: { method?: string; body?: unknown } = {}) {
  const res = await fetch(`${url}/api${p}`, {
    method: init.method ?? "GET",
    headers: { Authorization: `Bearer ${alice}`, "Content-Type": "application/json" },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  t = await startTenancy({ broker: { namespace, nodeID: `${namespace}-services`, transporter: NATS } });
  gatewayNode = new ServiceBroker({ logger: false, namespace, nodeID: `${namespace}-gateway`, transporter: NATS });
  gatewayNode.createService({
    ...ApiService,
    settings: { ...(ApiService.settings as Settings), port: 0, ip: "127.0.0.1", jwtSecret: SECRET, debounceTime: 20 },
  });
  await gatewayNode.start();
  await gatewayNode.waitForServices(["v1.k8s.namespaces", "v1.k8s.volumes"], 10_000);
  const gateway = gatewayNode.getLocalService("api") as unknown as {
    server: Server;
    aliases: { action: string | null }[];
  };
  await waitFor(() => gateway.aliases.some((a) => a.action === "v1.k8s.volumes.create"), 10_000, "remote routes");
  url = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
  alice = await signToken({ userID: "alice" }, SECRET);
}, 30_000);
afterAll(async () => {
  await gatewayNode?.stop();
  await t?.stop();
});

describe("tenancy with the gateway on another node", () => {
  it("runs no tenancy service on the gateway node", () => {
    expect(gatewayNode.getLocalService("v1.k8s.namespaces")).toBeFalsy();
    expect(gatewayNode.getLocalService("v1.kube")).toBeFalsy();
  });

  it("creates a namespace and a Bound volume, puts back a deleted Namespace, and removes it all", async () => {
    const ns = await api("/v1/k8s/namespaces", { method: "POST", body: { name: "remote" } });
    expect(ns).toMatchObject({ status: 200, body: { name: "remote", status: { phase: "Active" } } });
    const id = String(ns.body.id);
    const vol = await api("/v1/k8s/volumes", { method: "POST", body: { namespace: id, name: "d", mountPath: "/d" } });
    expect(vol.status).toBe(200);
    await waitFor(
      async () => {
        const v = await api(`/v1/k8s/volumes/${String(vol.body.id)}`);
        return (v.body.status as { phase?: string } | undefined)?.phase === "Bound";
      },
      5000,
      "Bound",
    );
    await t.kubectl("delete", "namespace", "remote", "--wait=true");
    await waitFor(
      async () => {
        const r = await api(`/v1/k8s/namespaces/${id}`);
        return r.body.uid !== ns.body.uid && (r.body.status as { phase: string }).phase === "Active";
      },
      8000,
      "namespace put back",
    );
    expect((await t.kubectlRaw("get", "namespace", "remote")).code).toBe(0);
    expect((await api(`/v1/k8s/namespaces/${id}`, { method: "DELETE" })).status).toBe(200);
    await waitFor(async () => (await api(`/v1/k8s/namespaces/${id}`)).status === 404, 8000, "record gone");
    await waitFor(
      async () => /NotFound/.test((await t.kubectlRaw("get", "namespace", "remote")).stderr),
      8000,
      "namespace gone",
    );
  });
});
