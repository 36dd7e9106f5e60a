/**
 * A node restarted under its nodeID (a container restarted in its pod, NODE_ID = the pod's name): the calls the old
 * process had taken are retried on the new one as soon as it is seen, not after the broker's requestTimeout (30 s).
 * Two real processes over NATS (127.0.0.1:4222); the caller is a broker with the suite's options
 * (moleculer.config.ts: the RestartedNodes middleware, requestTimeout, retry policy).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ServiceBroker, type BrokerOptions } from "moleculer";
import { brokerOptions } from "../../moleculer.config.ts";
import { readConfig } from "../../lib/config.ts";

const NATS = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/restarting-node.ts");
/** Well under requestTimeout (30 s), well over a node's start (~1 s). */
const PROMPT_MS = 15_000;

interface WorkerNode {
  child: ChildProcess;
  /** Lines the node has printed so far. */
  lines: string[];
  /** Resolves once the node has printed `line` `times` times in all. */
  printed(line: string, times?: number): Promise<void>;
  /** Resolves with the node's instanceID once it has started. */
  ready(): Promise<string>;
}

describe("calls in flight to a node that restarts", () => {
  const namespace = `restart-${randomBytes(4).toString("hex")}`;
  const workerID = `${namespace}-worker`;
  let caller: ServiceBroker;
  const workers: WorkerNode[] = [];

  function startWorker(label: string, slowStartMs = 0): WorkerNode {
    const child = spawn(process.execPath, [FIXTURE, namespace, workerID, NATS, label, String(slowStartMs)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines: string[] = [];
    const waiters: (() => void)[] = [];
    let rest = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      const parts = (rest + chunk.toString()).split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
      for (const wake of waiters.splice(0)) wake();
    });
    const node: WorkerNode = {
      child,
      lines,
      async printed(line, times = 1) {
        while (lines.filter((l) => l === line).length < times) {
          await new Promise<void>((resolve) => waiters.push(resolve));
        }
      },
      async ready() {
        for (;;) {
          const line = lines.find((l) => l.startsWith("ready "));
          if (line !== undefined) return line.slice("ready ".length);
          await new Promise<void>((resolve) => waiters.push(resolve));
        }
      },
    };
    workers.push(node);
    return node;
  }

  async function kill(node: WorkerNode): Promise<void> {
    if (node.child.exitCode !== null || node.child.signalCode !== null) return;
    const exited = new Promise((resolve) => node.child.once("exit", resolve));
    node.child.kill("SIGKILL");
    await exited;
  }

  /** The call's answer, or a failure naming how long it has waited. */
  async function answerWithin<T>(call: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer after ${ms} ms: the call still waits`)), ms);
    });
    try {
      return await Promise.race([call, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  beforeAll(async () => {
    caller = new ServiceBroker({
      ...brokerOptions({ ...readConfig(), metricsPort: 0 }),
      namespace,
      nodeID: `${namespace}-caller`,
      transporter: NATS as NonNullable<BrokerOptions["transporter"]>,
      logger: false,
    });
    await caller.start();
  });

  afterEach(async () => {
    for (const node of workers.splice(0)) await kill(node);
  });

  afterAll(async () => {
    await caller.stop();
  });

  it("retries a call the killed process had taken on the restarted one at once", async () => {
    const first = startWorker("first");
    await first.ready();
    await caller.waitForServices("worker", 10_000);
    const started = Date.now();
    const answer = caller.call("worker.work", { ms: 0, stallOn: "first" });
    await first.printed("taken");
    await kill(first);

    const second = startWorker("second");
    await expect(answerWithin(answer, PROMPT_MS)).resolves.toEqual({ label: "second" });
    expect(second.lines.filter((l) => l === "taken")).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(PROMPT_MS);
  }, 40_000);

  it("keeps a call that reached the restarted process before its services were announced", async () => {
    const first = startWorker("first");
    await first.ready();
    await caller.waitForServices("worker", 10_000);
    await kill(first);

    // The caller still lists the old process's `worker` (no DISCONNECT, heartbeat timeout 15 s): the call goes to the
    // nodeID, where the new process takes it; its INFO, with the new instanceID, arrives while it works on it.
    const second = startWorker("second", 2000);
    await second.printed("worker started");
    const answer = caller.call("worker.work", { ms: 3000 });
    await second.printed("taken");
    await second.ready();
    await expect(answer).resolves.toEqual({ label: "second" });
    // taken once: not rejected and sent again when the new process's INFO arrived
    expect(second.lines.filter((l) => l === "taken")).toHaveLength(1);
  }, 40_000);

  it("keeps the calls of a node that announces itself again without restarting (same instanceID)", async () => {
    const node = startWorker("first");
    const instanceID = await node.ready();
    // the caller knows this process (not only an earlier one under the nodeID) before the call
    await caller.waitForServices("worker", 10_000);
    for (;;) {
      const nodes = (await caller.call("$node.list")) as { id: string; instanceID?: string }[];
      if (nodes.some((n) => n.id === workerID && n.instanceID === instanceID)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const answer = caller.call("worker.work", { ms: 3000, announce: true });
    await caller.waitForServices("extra", 10_000);
    await expect(answer).resolves.toEqual({ label: "first" });
    // taken once: the call, sent before the node's new DISCOVER, was not rejected and sent again at its new INFO
    expect(node.lines.filter((l) => l === "taken")).toHaveLength(1);
  }, 40_000);
});
