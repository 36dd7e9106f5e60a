/**
 * v1.k8s.envs on one node and the gateway (and a listener) on another, over NATS (127.0.0.1:4222, as the e2e tests
 * use): secrets stay masked in REST answers, remote calls from people and remote events; internal calls from the other
 * node get the value; neither node logs a secret (both log everything, at every level).
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { ServiceBroker, type BrokerOptions, type Context } from "moleculer";
import { SECRET_MASK, type EnvEntity } from "../../../lib/entities.ts";
import {
  addGateway,
  gatewayUrl,
  request,
  RecordingLogger,
  startEnvHarness,
  testToken,
  waitFor,
  type DeploymentRecord,
  type EnvHarness,
  type RecordedEvent,
} from "./harness.ts";

const NATS = (process.env.NATS_URL ?? "nats://127.0.0.1:4222") as NonNullable<BrokerOptions["transporter"]>;
const namespace = `envs-${randomBytes(4).toString("hex")}`;
const SECRET_VALUE = "across-N0des-6161";

let h: EnvHarness;
let gatewayNode: ServiceBroker;
const gatewayLog = new RecordingLogger({ level: "trace" });
const remoteEvents: RecordedEvent[] = [];
let url: string;
let ns: { id: string; name: string };
let web: DeploymentRecord;

beforeAll(async () => {
  h = await startEnvHarness({
    gateway: false,
    broker: { namespace, nodeID: `${namespace}-services`, transporter: NATS },
  });
  gatewayNode = new ServiceBroker({ namespace, nodeID: `${namespace}-gateway`, transporter: NATS, logger: gatewayLog });
  addGateway(gatewayNode);
  gatewayNode.createService({
    name: "remote-listener",
    events: {
      "k8s.envs.*"(ctx: Context<unknown>) {
        remoteEvents.push({ name: ctx.eventName ?? "", payload: ctx.params });
      },
    },
  });
  await gatewayNode.start();
  await gatewayNode.waitForServices(["v1.k8s.envs", "v1.k8s.namespaces"], 10_000);
  // The services node hears of the listener when the gateway node's INFO arrives (sent debounced, about 1 s).
  await h.broker.waitForServices(["remote-listener"], 10_000);
  url = await gatewayUrl(gatewayNode);
  ns = await h.createNamespace("apart", "alice");
  await h.broker.call(
    "v1.k8s.namespaces.addMember",
    { id: ns.id, userID: "carol", role: "viewer" },
    {
      meta: { userID: "alice" },
    },
  );
  web = await h.addDeployment({ name: "web", namespace: ns.id, image: "none" });
}, 30_000);

afterAll(async () => {
  await gatewayNode?.stop();
  await h?.stop();
});

describe("v1.k8s.envs across nodes", () => {
  it("keeps a secret masked over REST and remote calls, and gives it to internal callers on the other node", async () => {
    const alice = await testToken("alice");
    const carol = await testToken("carol");
    const created = await request(url, "/api/v1/k8s/envs", {
      method: "POST",
      token: alice,
      body: { namespace: ns.id, deployment: web.id, key: "TOKEN", type: "secret", value: SECRET_VALUE },
    });
    expect(created.status).toBe(200);
    const env = (await created.json()) as EnvEntity;
    expect(env.value).toBe(SECRET_MASK);
    const s = await h.core.readNamespacedSecret({ name: "web-env", namespace: "apart" });
    expect(Buffer.from(s.data?.TOKEN ?? "", "base64").toString()).toBe(SECRET_VALUE);

    const answers: string[] = [];
    for (const path of ["/api/v1/k8s/envs", `/api/v1/k8s/envs/${env.id}`, `/api/v1/k8s/envs/pack/${web.id}`]) {
      const res = await request(url, path, { token: carol });
      expect(res.status).toBe(200);
      answers.push(await res.text());
    }
    const remote = await gatewayNode.call<EnvEntity, unknown>(
      "v1.k8s.envs.get",
      { id: env.id },
      { meta: { userID: "carol" } },
    );
    expect(remote.value).toBe(SECRET_MASK);
    answers.push(JSON.stringify(remote));
    for (const a of answers) expect(a).not.toContain(SECRET_VALUE);

    const internal = await gatewayNode.call<EnvEntity, unknown>("v1.k8s.envs.resolveENV", {
      deployment: web.id,
      key: "TOKEN",
    });
    expect(internal.value).toBe(SECRET_VALUE);

    const event = await waitFor(() => remoteEvents.find((e) => e.name === "k8s.envs.created"), 5000, "remote event");
    expect(event.payload).toMatchObject({ key: "TOKEN", value: SECRET_MASK });
  });

  it("logged no secret on either node", () => {
    expect(gatewayLog.lines.some((l) => l.includes("Send 'v1.k8s.envs"))).toBe(true);
    for (const text of [gatewayLog.lines.join("\n"), h.lines.join("\n"), JSON.stringify(remoteEvents)]) {
      expect(text).not.toContain(SECRET_VALUE);
      expect(text).not.toContain(Buffer.from(SECRET_VALUE).toString("base64"));
    }
  });
});
