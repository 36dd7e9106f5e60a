import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { gzipSync } from "node:zlib";
import type { ServiceBroker } from "moleculer";
import { startGateway, type Gateway } from "../../fixtures/gateway.ts";
import widgets from "../../fixtures/widgets.service.ts";
import { SECURITY_HEADERS } from "../../../services/api.service.ts";
import vaults from "./vaults.fixture.ts";

const withVaults = (b: ServiceBroker): void => {
  b.createService(widgets);
  b.createService(vaults);
};

/** Sets environment variables for the duration of `run`, then puts the old values back. */
async function withEnv<T>(vars: Record<string, string>, run: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await run();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

function expectSecurityHeaders(res: Response, what: string): void {
  const seen = {
    what,
    nosniff: res.headers.get("x-content-type-options"),
    cache: res.headers.get("cache-control"),
    frame: res.headers.get("x-frame-options"),
    csp: res.headers.get("content-security-policy"),
    referrer: res.headers.get("referrer-policy"),
    poweredBy: res.headers.get("x-powered-by"),
    server: res.headers.get("server"),
  };
  expect(seen).toEqual({
    what,
    nosniff: "nosniff",
    cache: "no-store",
    frame: SECURITY_HEADERS["X-Frame-Options"],
    csp: SECURITY_HEADERS["Content-Security-Policy"],
    referrer: SECURITY_HEADERS["Referrer-Policy"],
    poweredBy: null,
    server: null,
  });
}

describe("api security headers", () => {
  let gw: Gateway;
  let token: string;
  beforeAll(async () => {
    gw = await startGateway({
      bodyLimit: "2kb",
      corsOrigins: ["https://ui.example.com"],
      // alice's read, change and refused delete spend it; her fourth call is the 429 case.
      requestRateLimit: { rate: 0.001, burst: 3 },
    });
    token = await gw.token({ userID: "alice" });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it("sends nosniff, no-store and no X-Powered-By on every kind of answer", async () => {
    const cases: [string, () => Promise<Response>, number][] = [
      ["health", () => gw.request("/api/health"), 200],
      ["openapi", () => gw.request("/api/openapi.json"), 200],
      ["a domain read", () => gw.request("/api/v1/k8s/widgets", { token }), 200],
      ["a change", () => gw.request("/api/v1/k8s/widgets", { method: "POST", token, body: { name: "h1" } }), 200],
      ["401", () => gw.request("/api/v1/k8s/widgets"), 401],
      ["403", () => gw.request("/api/v1/k8s/widgets/h1", { method: "DELETE", token }), 403],
      ["404 unknown route", () => gw.request("/nothing", { token }), 404],
      ["413", () => gw.request("/api/v1/k8s/widgets", { method: "POST", token, body: { x: "y".repeat(5000) } }), 413],
      [
        "400 invalid JSON",
        () => gw.request("/api/v1/k8s/widgets", { method: "POST", token, body: "{", headers: {} }),
        400,
      ],
      [
        "CORS preflight",
        () =>
          gw.request("/api/v1/k8s/widgets", {
            method: "OPTIONS",
            headers: { Origin: "https://ui.example.com", "Access-Control-Request-Method": "POST" },
          }),
        204,
      ],
      ["429", () => gw.request("/api/v1/k8s/widgets", { token }), 429],
    ];
    for (const [what, send, status] of cases) {
      const res = await send();
      await res.arrayBuffer();
      expect({ what, status: res.status }).toEqual({ what, status });
      expectSecurityHeaders(res, what);
    }
  });

  it("sends them on a 500 and on a 503 too", async () => {
    const other = await startGateway({ requestRateLimit: { rate: 0, burst: 0 } });
    try {
      const t = await other.token({ userID: "alice" });
      const bare = await other.request("/api/v1/k8s/widgets/fail/bare", { token: t });
      expect(bare.status).toBe(500);
      expectSecurityHeaders(bare, "500");
      await other.broker.call("v1.k8s.widgets.setReadiness", { ready: false });
      const ready = await other.request("/api/ready");
      expect(ready.status).toBe(503);
      expectSecurityHeaders(ready, "503 ready");
    } finally {
      await other.stop();
    }
  });
});

describe("api body size limit", () => {
  let gw: Gateway;
  let token: string;
  beforeAll(async () => {
    gw = await startGateway({ bodyLimit: "2kb", requestRateLimit: { rate: 0, burst: 0 } }, withVaults);
    token = await gw.token({ userID: "alice", admin: true });
    const created = await gw.request("/api/v1/k8s/vaults", {
      method: "POST",
      token,
      body: { name: "v", namespace: "n", key: "K", value: "small" },
    });
    expect(created.status).toBe(200);
  });
  afterAll(async () => {
    await gw.stop();
  });

  const big = { value: "x".repeat(3000) };
  it.each([
    ["POST", "/api/v1/k8s/vaults"],
    ["PUT", "/api/v1/k8s/vaults/v-1"],
    ["PATCH", "/api/v1/k8s/vaults/v-1"],
    ["DELETE", "/api/v1/k8s/vaults/v-1"],
  ])("answers 413 JSON to a %s body over the limit, before the action runs", async (method, path) => {
    const res = await gw.request(path, { method, token, body: big });
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({
      name: "PayloadTooLargeError",
      message: "Request body too large",
      code: 413,
      type: "PAYLOAD_TOO_LARGE",
      data: null,
    });
  });

  it("accepts PUT and PATCH bodies under the limit (the vault is still there: the 413s changed nothing)", async () => {
    const put = await gw.request("/api/v1/k8s/vaults/v-1", { method: "PUT", token, body: { value: "y".repeat(1500) } });
    expect(put.status).toBe(200);
    const patch = await gw.request("/api/v1/k8s/vaults/v-1", { method: "PATCH", token, body: { value: "z" } });
    expect(patch.status).toBe(200);
  });

  it("does not read a body of another content type, however large: the action sees no fields (422)", async () => {
    const res = await gw.request("/api/v1/k8s/vaults/v-1", {
      method: "PUT",
      token,
      body: JSON.stringify({ value: "x".repeat(50_000) }),
      headers: { "Content-Type": "text/plain" },
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ data: [expect.objectContaining({ field: "value", type: "required" })] });
  });

  /** A PUT of `text` as a chunked body (no Content-Length), sent in pieces of `chunkSize` bytes. */
  function putChunked(text: string, chunkSize: number): Promise<Response> {
    const bytes = new TextEncoder().encode(text);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += chunkSize) controller.enqueue(bytes.slice(i, i + chunkSize));
        controller.close();
      },
    });
    return fetch(`${gw.url}/api/v1/k8s/vaults/v-1`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit);
  }

  it("reads a chunked body without Content-Length under the limit", async () => {
    const res = await putChunked('{"value":"chunked"}', 9);
    // 200, not 422 `value` required: the body was read (the vault answers its value masked).
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: "v-1", value: "******" });
  });

  it("counts a chunked body without Content-Length against the limit", async () => {
    const res = await putChunked(`{"value":"${"x".repeat(3000)}"}`, 500);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 413, type: "PAYLOAD_TOO_LARGE" });
  });

  it("counts a gzip body by its inflated size (no zip bombs)", async () => {
    const gz = gzipSync(JSON.stringify({ value: "x".repeat(200_000) }));
    expect(gz.length).toBeLessThan(2048);
    const res = await fetch(`${gw.url}/api/v1/k8s/vaults/v-1`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", "Content-Encoding": "gzip" },
      body: gz,
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 413, type: "PAYLOAD_TOO_LARGE" });
  });
});

describe("api CORS from CORS_ORIGINS", () => {
  async function preflight(gw: Gateway, origin: string): Promise<Response> {
    return gw.request("/api/v1/k8s/widgets", {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
      },
    });
  }

  it("allows exactly the comma-separated origins of CORS_ORIGINS", async () => {
    await withEnv({ CORS_ORIGINS: " https://a.example.com ,https://b.example.com" }, async () => {
      const gw = await startGateway();
      try {
        for (const origin of ["https://a.example.com", "https://b.example.com"]) {
          const res = await preflight(gw, origin);
          expect(res.status).toBe(204);
          expect(res.headers.get("access-control-allow-origin")).toBe(origin);
          expect(res.headers.get("access-control-allow-methods")).toMatch(/POST/);
        }
        const token = await gw.token({ userID: "alice" });
        const ok = await gw.request("/api/v1/k8s/widgets", { token, headers: { Origin: "https://a.example.com" } });
        expect(ok.status).toBe(200);
        expect(ok.headers.get("access-control-allow-origin")).toBe("https://a.example.com");
        const evil = await gw.request("/api/v1/k8s/widgets", {
          token,
          headers: { Origin: "https://evil.example.com" },
        });
        expect(evil.headers.get("access-control-allow-origin")).toBeNull();
        expect((await preflight(gw, "https://evil.example.com")).headers.get("access-control-allow-origin")).toBeNull();
      } finally {
        await gw.stop();
      }
    });
  });

  it("is off when CORS_ORIGINS is empty", async () => {
    await withEnv({ CORS_ORIGINS: " , " }, async () => {
      const gw = await startGateway();
      try {
        const res = await preflight(gw, "https://a.example.com");
        expect(res.headers.get("access-control-allow-origin")).toBeNull();
        const token = await gw.token({ userID: "alice" });
        const get = await gw.request("/api/v1/k8s/widgets", { token, headers: { Origin: "https://a.example.com" } });
        expect(get.status).toBe(200);
        expect(get.headers.get("access-control-allow-origin")).toBeNull();
      } finally {
        await gw.stop();
      }
    });
  });
});
