/**
 * The tenancy services through REST with the real gateway (in one process), against a real sandbox, checked with
 * kubectl: a namespace with its status and quota, a volume that becomes Bound, refusals naming the field, removal.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startSandbox, type Sandbox } from "../../../lib/sandbox/index.ts";
import { startGateway, type Gateway } from "../../fixtures/gateway.ts";
import { tenancySchemas, waitFor } from "./harness.ts";

const run = promisify(execFile);
let sandbox: Sandbox;
let gw: Gateway;
let dir: string;
let kubeconfig: string;
let alice: string;
let bob: string;
let admin: string;

async function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("/usr/bin/kubectl", ["--kubeconfig", kubeconfig, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

async function api(
  p: string,
  token: string,
  init: { method?: string; body?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await gw.request(`/api${p}`, { ...init, token });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20 });
  dir = await mkdtemp(path.join(tmpdir(), "tenancy-rest-"));
  kubeconfig = path.join(dir, "kubeconfig");
  await writeFile(kubeconfig, sandbox.kubeconfig());
  const schemas = tenancySchemas(sandbox.kubeconfig());
  gw = await startGateway(
    {},
    (broker) => {
      broker.createService(schemas.kube);
      broker.createService(schemas.namespaces);
      broker.createService(schemas.volumes);
    },
    "v1.k8s.volumes.create",
  );
  await waitFor(
    () =>
      gw.broker.call("v1.kube.readiness").then(
        () => true,
        () => false,
      ),
    5000,
    "v1.kube ready",
  );
  alice = await gw.token({ userID: "alice" });
  bob = await gw.token({ userID: "bob" });
  admin = await gw.token({ userID: "root", admin: true });
});
afterAll(async () => {
  await gw?.stop();
  await sandbox?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("REST /api/v1/k8s/namespaces and /api/v1/k8s/volumes", () => {
  it("creates a namespace and a volume that the cluster has, with status and quota from the cluster", async () => {
    const ns = await api("/v1/k8s/namespaces", alice, { method: "POST", body: { name: "web" } });
    expect(ns.status).toBe(200);
    expect(ns.body).toMatchObject({ name: "web", status: { phase: "Active" } });
    const id = String(ns.body.id);
    // The quota is the platform's (QUOTA_SET_BY=admin): the owner's change is refused, an admin's is applied.
    const ownQuota = await api(`/v1/k8s/namespaces/${id}`, alice, { method: "PATCH", body: { quota: { pods: 30 } } });
    expect(ownQuota).toMatchObject({ status: 403, body: { type: "FORBIDDEN", data: { field: "quota" } } });
    const granted = await api(`/v1/k8s/namespaces/${id}`, admin, { method: "PATCH", body: { quota: { pods: 3 } } });
    expect(granted).toMatchObject({ status: 200, body: { quota: { pods: 3 }, status: { phase: "Active" } } });
    expect(await api(`/v1/k8s/namespaces/${id}/status`, alice)).toMatchObject({
      status: 200,
      body: { phase: "Active", uid: ns.body.uid },
    });
    expect(await api(`/v1/k8s/namespaces/${id}/resourcequota`, alice)).toMatchObject({
      status: 200,
      body: { hard: { pods: "3" } },
    });
    expect((await api(`/v1/k8s/namespaces/${id}/status`, bob)).status).toBe(404);

    const vol = await api("/v1/k8s/volumes", alice, {
      method: "POST",
      body: { namespace: id, name: "uploads", type: "persistentVolumeClaim", mountPath: "/srv/uploads", size: "2Gi" },
    });
    expect(vol.status).toBe(200);
    const volId = String(vol.body.id);
    await waitFor(
      async () => (await api(`/v1/k8s/volumes/${volId}/status`, alice)).body.phase === "Bound",
      5000,
      "Bound over REST",
    );
    expect((await api(`/v1/k8s/volumes/${volId}`, alice)).body).toMatchObject({ status: { phase: "Bound" } });
    const pvc = await kubectl("get", "pvc", "uploads", "-n", "web", "-o", "jsonpath={.status.phase}");
    expect(pvc.stdout).toBe("Bound");
    const list = await api(`/v1/k8s/volumes?query=${encodeURIComponent(JSON.stringify({ namespace: id }))}`, bob);
    expect(list.body).toMatchObject({ rows: [], total: 0 });
  });

  it("answers 4xx naming the field for bad input, and makes nothing", async () => {
    const ns = await api("/v1/k8s/namespaces", alice, { method: "POST", body: { name: "strict" } });
    const id = String(ns.body.id);
    for (const [body, field] of [
      [{ size: "-1Gi" }, "size"],
      [{ size: "lots" }, "size"],
      [{ name: "UPPER" }, "name"],
      [{ mountPath: "data" }, "mountPath"],
    ] as const) {
      const res = await api("/v1/k8s/volumes", alice, {
        method: "POST",
        body: { namespace: id, name: "v", mountPath: "/data", ...body },
      });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ name: "ValidationError", code: 422, type: "VALIDATION_ERROR" });
      expect((res.body.data as { field: string }[])[0]?.field).toBe(field);
    }
    const foreign = await api("/v1/k8s/volumes", bob, {
      method: "POST",
      body: { namespace: id, name: "v", mountPath: "/data" },
    });
    expect(foreign).toMatchObject({ status: 404, body: { type: "NOT_FOUND" } });
    expect((await api("/v1/k8s/namespaces", alice, { method: "POST", body: { name: "Not-Valid" } })).status).toBe(422);
    expect((await kubectl("get", "pvc", "-n", "strict", "-o", "name")).stdout.trim()).toBe("");
  });

  it("removes a namespace: Terminating, then no record and no object", async () => {
    const ns = await api("/v1/k8s/namespaces", alice, { method: "POST", body: { name: "bye" } });
    const id = String(ns.body.id);
    await api("/v1/k8s/volumes", alice, { method: "POST", body: { namespace: id, name: "v", mountPath: "/v" } });
    expect((await api(`/v1/k8s/namespaces/${id}`, bob, { method: "DELETE" })).status).toBe(404);
    const del = await api(`/v1/k8s/namespaces/${id}`, alice, { method: "DELETE" });
    expect(del).toMatchObject({ status: 200, body: { id, status: { phase: "Terminating" } } });
    await waitFor(async () => (await api(`/v1/k8s/namespaces/${id}`, alice)).status === 404, 8000, "record gone");
    await waitFor(
      async () => /NotFound/.test((await kubectl("get", "namespace", "bye")).stderr),
      8000,
      "namespace gone",
    );
    const list = await api(`/v1/k8s/volumes?query=${encodeURIComponent(JSON.stringify({ namespace: id }))}`, alice);
    expect(list.body).toMatchObject({ total: 0 });
    expect((await kubectl("get", "all,pvc,cm,secret,quota,limits", "-n", "bye", "-o", "name")).stdout.trim()).toBe("");
  });
});
