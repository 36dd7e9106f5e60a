/**
 * `GET /api/v1/k8s/deployments/:id/logs?follow=true` through the real gateway against the sandbox: a chunked text
 * stream of every pod's log that ends cleanly when the client aborts (no follow left open in v1.kube or the mixin),
 * a clear 409 without pods, and a clean end (no crash) when the cluster goes away in the middle.
 * Run with --detectOpenHandles: nothing may stay open after afterAll.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DeploymentEntity } from "../../../lib/entities.ts";
import { startOpsStack, waitUntil, type OpsStack } from "./stack.ts";

let stack: OpsStack;
let web: DeploymentEntity;

const base = (id: string) => `/api/v1/k8s/deployments/${id}`;

/** Open follows on the services' node: v1.kube's log requests and the mixin's merged streams. */
function openFollows(): number {
  const kube = stack.services.getLocalService("v1.kube") as unknown as { followers: Set<unknown> };
  const deployments = stack.services.getLocalService("v1.k8s.deployments") as unknown as { logFollows: Set<unknown> };
  return kube.followers.size + deployments.logFollows.size;
}

/** Opens a follow and reads until `enough` says the text so far is enough; returns the reader, the text, the controller. */
async function follow(id: string, enough: (text: string) => boolean) {
  const controller = new AbortController();
  const res = await fetch(`${stack.api}${base(id)}/logs?follow=true&tail=2`, {
    headers: { Authorization: `Bearer ${stack.tokens.vera}` },
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
  expect(res.headers.get("transfer-encoding")).toBe("chunked");
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!enough(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return { reader, text, controller };
}

beforeAll(async () => {
  stack = await startOpsStack();
  web = await stack.deploy("web", { replicas: 2 });
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("v1.k8s.deployments.logs follow", () => {
  it("streams every pod's lines (prefixed) until the client aborts, then closes every follow", async () => {
    const pods = (await stack.http("GET", `${base(web.id)}/pods`, stack.tokens.alice)).json as unknown as {
      name: string;
    }[];
    expect(pods).toHaveLength(2);
    const { reader, text, controller } = await follow(web.id, (t) => pods.every((p) => t.includes(`[${p.name}] `)));
    for (const line of text.trimEnd().split("\n")) {
      expect(pods.some((p) => line.startsWith(`[${p.name}] `))).toBe(true);
    }
    expect(openFollows()).toBe(3); // two pod follows in v1.kube, one merged stream
    controller.abort();
    await expect(reader.read()).rejects.toThrow();
    await waitUntil(() => openFollows() === 0, 5000, "every follow closed");
  });

  it("answers 409 NO_PODS naming follow for a deployment without pods", async () => {
    const idle = await stack.deploy("idle", { replicas: 0 });
    const res = await stack.http("GET", `${base(idle.id)}/logs?follow=true`, stack.tokens.alice);
    expect(res.status).toBe(409);
    expect(res.json).toMatchObject({ type: "NO_PODS", data: { field: "follow" } });
    expect(openFollows()).toBe(0);
  });

  it("ends the stream cleanly when the cluster goes away in the middle", async () => {
    const { reader } = await follow(web.id, (t) => t.includes("\n"));
    await stack.stopSandbox();
    const decoder = new TextDecoder();
    let rest = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
    }
    expect(typeof rest).toBe("string");
    await waitUntil(() => openFollows() === 0, 5000, "every follow closed");
    // The gateway and the services still answer (a read that needs the cluster is a clear error, not a crash).
    const health = await fetch(`${stack.api}/api/health`);
    expect(health.status).toBe(200);
    await stack.restartSandbox();
  });
});
