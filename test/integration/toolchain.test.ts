import { describe, expect, it } from "@jest/globals";
import { KubeConfig } from "@kubernetes/client-node";
import { ServiceBroker } from "moleculer";

describe("toolchain", () => {
  it("runs on Node 24 with ESM client-node and a real broker", async () => {
    expect(Number(process.versions.node.split(".")[0])).toBeGreaterThanOrEqual(24);
    expect(typeof new KubeConfig().loadFromString).toBe("function");
    const broker = new ServiceBroker({ logger: false });
    broker.createService({ name: "greeter", version: 1, actions: { hello: () => "hi" } });
    await broker.start();
    await expect(broker.call("v1.greeter.hello")).resolves.toBe("hi");
    await broker.stop();
  });
});
