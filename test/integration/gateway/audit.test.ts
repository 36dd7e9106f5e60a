/**
 * The gateway's audit log, read from the broker's own log lines: a logger that records every line of every module
 * at every level, so that the test also sees what moleculer and moleculer-web log on their own.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { inspect } from "node:util";
import { Loggers, ServiceBroker } from "moleculer";
import ApiService, { type Settings } from "../../../services/api.service.ts";
import { signToken } from "../../../lib/auth.ts";
import type { AuditEntry } from "../../../lib/audit.ts";
import widgets from "../../fixtures/widgets.service.ts";
import vaults from "./vaults.fixture.ts";

const JWT_SECRET = "audit-test-secret-0123456789abcdefgh";
const SECRET_VALUE = "pa55-W0rd-that-must-never-be-logged";
const OTHER_SECRET = "second-secret-value-9f8e7d";

interface Line {
  mod: string;
  level: string;
  args: unknown[];
  text: string;
}

/** A moleculer logger that keeps every line, at every level (trace included), of every module. */
class RecordingLogger extends Loggers.Base<{ level?: "trace" }> {
  lines: Line[] = [];
  override getLogHandler(bindings: { mod?: string }): (level: string, args: unknown[]) => void {
    return (level, args) => {
      const text = args.map((a) => (typeof a === "string" ? a : inspect(a, { depth: 20 }))).join(" ");
      this.lines.push({ mod: bindings.mod ?? "", level, args, text });
    };
  }
}

describe("api audit log", () => {
  let broker: ServiceBroker;
  let recorder: RecordingLogger;
  let url: string;
  let alice: string;
  let root: string;

  beforeAll(async () => {
    recorder = new RecordingLogger({ level: "trace" });
    broker = new ServiceBroker({ logger: recorder, logLevel: "trace" });
    broker.createService(widgets);
    broker.createService(vaults);
    broker.createService({
      ...ApiService,
      settings: {
        ...(ApiService.settings as Settings),
        port: 0,
        ip: "127.0.0.1",
        jwtSecret: JWT_SECRET,
        debounceTime: 20,
        requestRateLimit: { rate: 0, burst: 0 },
      },
    });
    await broker.start();
    const api = broker.getLocalService("api") as unknown as { server: Server; aliases: { action: string | null }[] };
    const deadline = Date.now() + 5000;
    while (!["v1.k8s.vaults.remove", "v1.k8s.widgets.remove"].every((n) => api.aliases.some((a) => a.action === n))) {
      if (Date.now() > deadline) throw new Error("the gateway did not publish the fixtures");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    alice = await signToken({ userID: "alice" }, JWT_SECRET);
    root = await signToken({ userID: "root", admin: true }, JWT_SECRET);
  });
  afterAll(async () => {
    await broker.stop();
  });

  async function send(method: string, path: string, token?: string, body?: unknown): Promise<number> {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers["Authorization"] = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(`${url}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    await res.arrayBuffer();
    return res.status;
  }

  function auditLines(): Line[] {
    return recorder.lines.filter((l) => l.mod === "audit");
  }

  /** The audit lines written after `from` lines, waiting a little for the answers' "close" events. */
  async function auditsSince(from: number, expected: number): Promise<AuditEntry[]> {
    const deadline = Date.now() + 2000;
    while (auditLines().length - from < expected && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    return auditLines()
      .slice(from)
      .map((l) => l.args[0] as AuditEntry);
  }

  it("writes one info line on the audit logger per change, saying who, what, which object, the status and when", async () => {
    const from = auditLines().length;
    const started = Date.now();
    expect(
      await send("POST", "/api/v1/k8s/vaults", alice, {
        name: "db",
        namespace: "team-a",
        key: "DB_PASSWORD",
        value: SECRET_VALUE,
      }),
    ).toBe(200);
    expect(await send("PUT", "/api/v1/k8s/vaults/v-1", alice, { value: OTHER_SECRET })).toBe(200);
    expect(await send("PATCH", "/api/v1/k8s/vaults/v-1", root, { value: SECRET_VALUE })).toBe(200);
    expect(await send("DELETE", "/api/v1/k8s/vaults/v-1", root)).toBe(200);
    const entries = await auditsSince(from, 4);

    const lines = auditLines().slice(from);
    expect(lines.map((l) => [l.level, l.args.length])).toEqual([
      ["info", 1],
      ["info", 1],
      ["info", 1],
      ["info", 1],
    ]);
    expect(entries.map((e) => JSON.parse(JSON.stringify(e)) as unknown)).toEqual(entries);
    expect(entries).toEqual([
      {
        audit: "change",
        time: expect.any(String),
        userID: "alice",
        roles: [],
        action: "v1.k8s.vaults.create",
        method: "POST",
        path: "/api/v1/k8s/vaults",
        object: { id: "v-1", name: "db", namespace: "team-a", key: "DB_PASSWORD" },
        status: 200,
        durationMs: expect.any(Number),
        requestID: expect.any(String),
      },
      expect.objectContaining({
        userID: "alice",
        action: "v1.k8s.vaults.update",
        method: "PUT",
        path: "/api/v1/k8s/vaults/v-1",
        object: { id: "v-1", name: "db", namespace: "team-a", key: "DB_PASSWORD" },
        status: 200,
      }),
      expect.objectContaining({
        userID: "root",
        roles: ["admin"],
        action: "v1.k8s.vaults.patch",
        method: "PATCH",
        path: "/api/v1/k8s/vaults/v-1",
        status: 200,
      }),
      expect.objectContaining({
        userID: "root",
        action: "v1.k8s.vaults.remove",
        method: "DELETE",
        path: "/api/v1/k8s/vaults/v-1",
        object: { id: "v-1" },
        status: 200,
      }),
    ]);
    for (const e of entries) {
      const t = Date.parse(e.time);
      expect(t).toBeGreaterThanOrEqual(started - 1000);
      expect(t).toBeLessThanOrEqual(Date.now() + 1000);
    }
  });

  it("audits refused and failed changes with their status", async () => {
    expect(await send("POST", "/api/v1/k8s/widgets", alice, { name: "w-audit" })).toBe(200);
    const from = auditLines().length;
    expect(await send("DELETE", "/api/v1/k8s/widgets/w-audit", alice)).toBe(403);
    expect(await send("POST", "/api/v1/k8s/widgets", alice, { name: "w-audit" })).toBe(409);
    expect(await send("PUT", "/api/v1/k8s/vaults/v-404", alice, { value: SECRET_VALUE })).toBe(404);
    expect(
      await send("POST", "/api/v1/k8s/vaults", alice, { name: "Bad Name", namespace: "t", key: "K", value: "v" }),
    ).toBe(422);
    const entries = await auditsSince(from, 4);
    expect(entries.map((e) => [e.action, e.method, e.status, e.object])).toEqual([
      ["v1.k8s.widgets.remove", "DELETE", 403, { id: "w-audit" }],
      ["v1.k8s.widgets.create", "POST", 409, { name: "w-audit" }],
      ["v1.k8s.vaults.update", "PUT", 404, { id: "v-404" }],
      ["v1.k8s.vaults.create", "POST", 422, { name: "Bad Name", namespace: "t", key: "K" }],
    ]);
  });

  it("writes no audit line for reads, unknown routes and requests that never reached an action", async () => {
    const from = auditLines().length;
    expect(await send("GET", "/api/v1/k8s/widgets", alice)).toBe(200);
    expect(await send("GET", "/api/v1/k8s/widgets/w-audit", alice)).toBe(200);
    expect(await send("POST", "/api/v1/k8s/vaults", undefined, { name: "x", value: SECRET_VALUE })).toBe(401);
    expect(await send("PATCH", "/api/v1/k8s/widgets", alice, {})).toBe(404);
    expect(await send("POST", "/api/health", alice, {})).toBe(404);
    // A change after them, so that the wait below ends on a line that must come.
    expect(await send("DELETE", "/api/v1/k8s/widgets/w-audit", root)).toBe(200);
    const entries = await auditsSince(from, 1);
    expect(entries.map((e) => [e.action, e.status])).toEqual([["v1.k8s.widgets.remove", 200]]);
  });

  it("never logs a secret value, a token or a request body, on any logger at any level", async () => {
    const from = auditLines().length;
    expect(
      await send("POST", "/api/v1/k8s/vaults", alice, {
        name: "api",
        namespace: "team-b",
        key: "API_KEY",
        value: `${SECRET_VALUE}-${"x".repeat(100)}`,
      }),
    ).toBe(422);
    // In the query string too (it overrides the body's value): the audit path has none.
    expect(await send("PUT", `/api/v1/k8s/vaults/v-2?value=${SECRET_VALUE}`, alice, { value: OTHER_SECRET })).toBe(404);
    const entries = await auditsSince(from, 2);
    expect(entries.map((e) => [e.status, e.path])).toEqual([
      [422, "/api/v1/k8s/vaults"],
      [404, "/api/v1/k8s/vaults/v-2"],
    ]);
    expect(recorder.lines.length).toBeGreaterThan(10);
    expect(recorder.lines.some((l) => l.level === "debug")).toBe(true);
    const everything = recorder.lines.map((l) => `${l.text} ${JSON.stringify(l.args, (_k, v: unknown) => v)}`);
    for (const needle of [SECRET_VALUE, OTHER_SECRET, alice, root, JWT_SECRET, "Bearer "]) {
      expect(everything.filter((t) => t.includes(needle))).toEqual([]);
    }
  });
});
