/**
 * `npm run sandbox` (scripts/sandbox.ts) as a process, and the sandbox's stateFile.
 */
import { describe, it, expect, afterAll } from "@jest/globals";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSandbox } from "../../../lib/sandbox/index.ts";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sandbox-script-"));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 15000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no ${String(pattern)} in: ${out}`)), timeoutMs);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (pattern.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
  });
}

describe("npm run sandbox", () => {
  it("starts alone, writes a kubeconfig, prints the kubectl command, and stops on SIGTERM", async () => {
    const dir = await tempDir();
    const kubeconfig = join(dir, "kubeconfig");
    const child = spawn(process.execPath, ["scripts/sandbox.ts"], {
      env: { ...process.env, SANDBOX_PORT: "0", SANDBOX_KUBECONFIG: kubeconfig, NODE_OPTIONS: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const out = await waitForOutput(child, /try: kubectl --kubeconfig \S+ get all -A/);
      expect(out).toContain(`kubeconfig written to ${kubeconfig}`);
      const config = await readFile(kubeconfig, "utf8");
      const token = /token: (\S+)/.exec(config)?.[1] ?? "";
      const url = /listening on (\S+)/.exec(out)?.[1] ?? "";
      const res = await fetch(`${url}/api/v1/namespaces`, { headers: { Authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

describe("sandbox stateFile", () => {
  it("saves the objects on stop and loads them on start", async () => {
    const dir = await tempDir();
    const stateFile = join(dir, "state.json");
    const first = await startSandbox({ stateFile, podReadyDelayMs: 20 });
    first.store.create("configmaps", {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "kept", namespace: "default" },
      data: { a: "1" },
    });
    const rv = Number(first.store.currentResourceVersion());
    await first.stop();
    const second = await startSandbox({ stateFile, podReadyDelayMs: 20 });
    try {
      expect(second.store.get("configmaps", "default", "kept")?.data).toEqual({ a: "1" });
      expect(Number(second.store.currentResourceVersion())).toBeGreaterThanOrEqual(rv);
    } finally {
      await second.stop();
    }
  });
});
