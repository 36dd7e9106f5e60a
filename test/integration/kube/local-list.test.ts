/**
 * lib/kube/local-list.ts: the suite's services list through v1.kube's watch cache without a broker call when v1.kube
 * runs on their node and its cache can answer, and through the call otherwise — on another node, or for a list the
 * cache cannot answer — with the same answers either way. Two brokers (Fake transporter): one with v1.kube against the
 * sandbox, one without.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { KubernetesObject } from "@kubernetes/client-node";
import { ServiceBroker } from "moleculer";
import { kubeList, kubeListMany } from "../../../lib/kube/local-list.ts";
import { actionCounter } from "../../helpers/broker.ts";
import { startSandbox, type Sandbox } from "../../../lib/sandbox/index.ts";
import kubeService, { type KubeListResult } from "../../../services/kube.service.ts";
import { appObjects, waitFor } from "./harness.ts";

let sandbox: Sandbox;
let kubeNode: ServiceBroker;
let otherNode: ServiceBroker;
/** Calls of each v1.kube action that reached the kube node. */
const calls = new Map<string, number>();

const callsOf = (action: string): number => calls.get(action) ?? 0;
const names = (items: readonly KubernetesObject[]) => items.map((o) => o.metadata?.name).sort();

const managedWeb = "app.kubernetes.io/managed-by=moleculer-k8s,app.kubernetes.io/name=web";
const deployments = { apiVersion: "apps/v1", kind: "Deployment", namespace: "locals", labelSelector: managedWeb };
const services = { apiVersion: "v1", kind: "Service", namespace: "locals", labelSelector: managedWeb };

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20 });
  const namespace = `local-list-${process.pid}`;
  kubeNode = new ServiceBroker({
    logger: false,
    namespace,
    nodeID: "kube-node",
    transporter: "Fake",
    middlewares: [actionCounter(calls)],
  });
  kubeNode.createService({ ...kubeService, settings: { ...kubeService.settings, kubeconfig: sandbox.kubeconfig() } });
  otherNode = new ServiceBroker({ logger: false, namespace, nodeID: "other-node", transporter: "Fake" });
  await Promise.all([kubeNode.start(), otherNode.start()]);
  await otherNode.waitForServices([{ name: "kube", version: 1 }]);
  await kubeNode.call("v1.kube.apply", { objects: appObjects("locals"), fieldManager: "k8s.deployments" });
  // The cache has the objects once it is synced and the watch delivered them.
  await waitFor(async () => (await kubeNode.call<KubeListResult, object>("v1.kube.list", deployments)).cached);
}, 30_000);

afterAll(async () => {
  await Promise.all([otherNode?.stop(), kubeNode?.stop()]);
  await sandbox?.stop();
});

describe("kubeList", () => {
  it("on v1.kube's node answers from its cache without a call: the objects the call answers", async () => {
    const before = callsOf("v1.kube.list");
    const local = await kubeList(kubeNode, deployments);
    expect(callsOf("v1.kube.list")).toBe(before);
    const called = await kubeNode.call<KubeListResult, object>("v1.kube.list", deployments);
    expect(local).toEqual({ items: called.items, cached: true });
    expect(names(local.items)).toEqual(["web"]);
  });

  it("on another node calls v1.kube, with the same answer", async () => {
    const before = callsOf("v1.kube.list");
    const remote = await kubeList(otherNode, deployments);
    expect(callsOf("v1.kube.list")).toBe(before + 1);
    expect(remote).toEqual(await kubeList(kubeNode, deployments));
  });

  it("calls v1.kube for a list its cache cannot answer (no managed-by requirement): from the API server", async () => {
    const unmanaged = { ...deployments, labelSelector: "app.kubernetes.io/name=web" };
    const before = callsOf("v1.kube.list");
    const reads = sandbox.requestCounts().reads;
    const listed = await kubeList(kubeNode, unmanaged);
    expect(callsOf("v1.kube.list")).toBe(before + 1);
    expect(sandbox.requestCounts().reads).toBe(reads + 1);
    expect(listed.cached).toBe(false);
    expect(names(listed.items)).toEqual(["web"]);
  });

  it("refuses a malformed selector with the 422 the call gives, naming labelSelector", async () => {
    const bad = { ...deployments, labelSelector: "app.kubernetes.io/managed-by=moleculer-k8s,=" };
    const expected = { code: 422, data: [expect.objectContaining({ field: "labelSelector" })] };
    await expect(kubeList(kubeNode, bad)).rejects.toMatchObject(expected);
    await expect(kubeList(otherNode, bad)).rejects.toMatchObject(expected);
  });
});

describe("kubeListMany", () => {
  it("answers each list in order from the cache when it answers them all, else in one listMany call", async () => {
    const before = { list: callsOf("v1.kube.list"), many: callsOf("v1.kube.listMany") };
    const local = await kubeListMany(kubeNode, [deployments, services]);
    expect([callsOf("v1.kube.list"), callsOf("v1.kube.listMany")]).toEqual([before.list, before.many]);
    expect(local.map(names)).toEqual([["web"], ["web-service"]]);

    const remote = await kubeListMany(otherNode, [deployments, services]);
    expect(callsOf("v1.kube.listMany")).toBe(before.many + 1);
    expect(remote).toEqual(local);

    // One list the cache cannot answer: all of them through one call, the same objects.
    const mixed = await kubeListMany(kubeNode, [
      deployments,
      { ...services, labelSelector: "app.kubernetes.io/name=web" },
    ]);
    expect(callsOf("v1.kube.listMany")).toBe(before.many + 2);
    expect(mixed.map(names)).toEqual([["web"], ["web-service"]]);
  });
});
