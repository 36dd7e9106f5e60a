import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { startGateway, type Gateway } from "../../fixtures/gateway.ts";

const run = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `npx node scripts/token.ts ...args` with DATA_DIR set and JWT_SECRET unset. */
async function token(dataDir: string, ...args: string[]): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir };
  delete env["JWT_SECRET"];
  try {
    const { stdout, stderr } = await run("npx", ["node", "scripts/token.ts", ...args], { env, cwd: process.cwd() });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("npm run token", () => {
  let dataDir: string;
  let gw: Gateway;
  let first: Result;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "token-"));
    // Printed before the gateway starts: the script generates the secret, the gateway then reuses it.
    first = await token(dataDir, "alice", "--admin");
    gw = await startGateway({ jwtSecret: null, dataDir });
  }, 60_000);
  afterAll(async () => {
    await gw.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("prints only a token on stdout, and keeps the generated secret under DATA_DIR", () => {
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(first.stderr).toBe("");
    expect(fs.statSync(path.join(dataDir, "jwt-secret")).mode & 0o777).toBe(0o600);
  });

  it("prints a token the gateway accepts with the same DATA_DIR", async () => {
    const res = await gw.request("/api/v1/k8s/widgets/whoami", { token: first.stdout.trim() });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ userID: "alice", roles: ["admin"], admin: true });
  });

  it("prints tokens without the admin role, with a chosen lifetime, that keep working", async () => {
    const second = await token(dataDir, "bob", "--expires", "30m");
    expect(second.code).toBe(0);
    const res = await gw.request("/api/v1/k8s/widgets/whoami", { token: second.stdout.trim() });
    expect(await res.json()).toEqual({ userID: "bob", roles: [], admin: false });
    const payload = JSON.parse(Buffer.from(second.stdout.split(".")[1] ?? "", "base64url").toString()) as {
      iat: number;
      exp: number;
    };
    expect(payload.exp - payload.iat).toBe(1800);
  }, 30_000);

  it("exits 2 with usage on stderr and nothing on stdout for bad arguments", async () => {
    const cases = [
      [],
      ["--admin"],
      ["alice", "bob"],
      ["alice", "--expires"],
      ["alice", "--expires", "soon"],
      ["alice", "--root"],
    ];
    const results = await Promise.all(cases.map((args) => token(dataDir, ...args)));
    for (const [i, res] of results.entries()) {
      expect({ args: cases[i], code: res.code, stdout: res.stdout }).toEqual({ args: cases[i], code: 2, stdout: "" });
      expect(res.stderr).toMatch(/usage: npm run token -- <userID>/);
    }
  }, 30_000);
});
