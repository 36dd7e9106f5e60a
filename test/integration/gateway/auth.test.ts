import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { SignJWT, base64url, generateKeyPair, type JWTPayload } from "jose";
import { startGateway, TEST_SECRET, type Gateway } from "../../fixtures/gateway.ts";
import type { OpenApiDocument } from "../../../lib/openapi.ts";

const key = new TextEncoder().encode(TEST_SECRET);
const now = (): number => Math.floor(Date.now() / 1000);
/** Claims of any shape, for tokens the gateway must refuse (jose types `sub` and `exp`). */
const claims = (payload: Record<string, unknown>): JWTPayload => payload as JWTPayload;
const WHOAMI = "/api/v1/k8s/widgets/whoami";

function algNone(payload: Record<string, unknown>): string {
  const enc = (o: unknown): string => base64url.encode(JSON.stringify(o));
  return `${enc({ alg: "none", typ: "JWT" })}.${enc(payload)}.`;
}

describe("api authentication", () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(async () => {
    await gw.stop();
  });

  it("answers a request without credentials with 401 JSON and WWW-Authenticate: Bearer", async () => {
    const res = await gw.request(WHOAMI);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({
      name: "MoleculerClientError",
      message: "Missing bearer token",
      code: 401,
      type: "UNAUTHORIZED",
      data: null,
    });
  });

  const badTokens: [string, () => Promise<string>][] = [
    ["a Basic header", async () => "Basic YWxpY2U6c2VjcmV0"],
    ["'Bearer' without a token", async () => "Bearer"],
    ["a garbage token", async () => "Bearer garbage.garbage.garbage"],
    [
      "a token signed with another secret",
      async () =>
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setExpirationTime("1h").sign(new TextEncoder().encode("another-secret-0123456789abcdefgh"))}`,
    ],
    ["alg none", async () => `Bearer ${algNone({ sub: "alice", roles: ["admin"], exp: now() + 3600 })}`],
    [
      "an HS512 token",
      async () =>
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS512" }).setSubject("alice").setExpirationTime("1h").sign(key)}`,
    ],
    [
      "an HS384 token",
      async () =>
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS384" }).setSubject("alice").setExpirationTime("1h").sign(key)}`,
    ],
    [
      "an RS256 token",
      async () => {
        const { privateKey } = await generateKeyPair("RS256");
        return `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setSubject("alice").setExpirationTime("1h").sign(privateKey)}`;
      },
    ],
    [
      "an expired token",
      async () =>
        `Bearer ${await new SignJWT({})
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("alice")
          .setExpirationTime(now() - 60)
          .sign(key)}`,
    ],
    [
      "a token without exp",
      async () => `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").sign(key)}`,
    ],
    [
      "a token whose nbf is in the future",
      async () =>
        `Bearer ${await new SignJWT({})
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("alice")
          .setNotBefore(now() + 300)
          .setExpirationTime("1h")
          .sign(key)}`,
    ],
    [
      "a token without sub",
      async () =>
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(key)}`,
    ],
    [
      "a token with a non-string sub",
      async () =>
        `Bearer ${await new SignJWT(claims({ sub: 42 })).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(key)}`,
    ],
    [
      "a token whose roles is a string, not an array",
      async () =>
        `Bearer ${await new SignJWT({ roles: "admin" })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("alice")
          .setExpirationTime("1h")
          .sign(key)}`,
    ],
    [
      "a token whose roles is an object",
      async () =>
        `Bearer ${await new SignJWT({ roles: { 0: "admin" } })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("alice")
          .setExpirationTime("1h")
          .sign(key)}`,
    ],
    [
      "a token whose exp is not a number",
      async () =>
        `Bearer ${await new SignJWT(claims({ sub: "alice", exp: "9999999999" })).setProtectedHeader({ alg: "HS256" }).sign(key)}`,
    ],
    [
      "alg none with a signature appended",
      async () => `Bearer ${algNone({ sub: "alice", roles: ["admin"], exp: now() + 3600 })}c2lnbmF0dXJl`,
    ],
  ];
  it.each(badTokens)("rejects %s with 401 and never calls the action", async (_what, header) => {
    const before = await gw.broker.call<{ whoamiCalls: number }>("v1.k8s.widgets.stats");
    const res = await gw.request(WHOAMI, { headers: { Authorization: await header() } });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: 401, type: "UNAUTHORIZED" });
    expect(Object.keys(body).sort()).toEqual(["code", "data", "message", "name", "type"]);
    expect(body).not.toHaveProperty("userID");
    await expect(gw.broker.call("v1.k8s.widgets.stats")).resolves.toMatchObject({ whoamiCalls: before.whoamiCalls });
  });

  it("passes a good token's sub and roles to the action as ctx.meta.userID and ctx.meta.roles", async () => {
    const res = await gw.request(WHOAMI, { token: await gw.token({ userID: "alice" }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ userID: "alice", roles: [], admin: false });
  });

  it("gives a token signed with --admin the admin role", async () => {
    const res = await gw.request(WHOAMI, { token: await gw.token({ userID: "root", admin: true }) });
    expect(await res.json()).toEqual({ userID: "root", roles: ["admin"], admin: true });
  });

  it("lets the action decide with the roles: a non-admin gets 403, an admin succeeds", async () => {
    const alice = await gw.token({ userID: "alice" });
    const root = await gw.token({ userID: "root", admin: true });
    expect(
      (await gw.request("/api/v1/k8s/widgets", { method: "POST", token: alice, body: { name: "w-auth" } })).status,
    ).toBe(200);
    const denied = await gw.request("/api/v1/k8s/widgets/w-auth", { method: "DELETE", token: alice });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ code: 403, type: "FORBIDDEN" });
    const removed = await gw.request("/api/v1/k8s/widgets/w-auth", { method: "DELETE", token: root });
    expect(removed.status).toBe(200);
    expect(await removed.json()).toEqual({ id: "w-auth", removed: true });
  });

  it("stamps the creator from the token, not from the body", async () => {
    const res = await gw.request("/api/v1/k8s/widgets", {
      method: "POST",
      token: await gw.token({ userID: "bob" }),
      body: { name: "w-owner" },
    });
    expect(await res.json()).toMatchObject({ name: "w-owner", owner: "bob" });
  });

  it("answers 401 on every published route without a token, so no request reaches an action without a userID", async () => {
    const doc = (await (await gw.request("/api/openapi.json")).json()) as OpenApiDocument;
    let checked = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const url = path.replace(/\{[^}]+\}/g, "x");
        const res = await gw.request(url, { method: method.toUpperCase(), ...(method === "get" ? {} : { body: {} }) });
        if (op.security.length === 0) {
          expect(res.status).not.toBe(401);
        } else {
          expect({ op: `${method} ${path}`, status: res.status }).toEqual({ op: `${method} ${path}`, status: 401 });
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it("never publishes the JWT secret in the service registry", () => {
    const services = gw.broker.registry.getServiceList({}) as { name: string; settings?: Record<string, unknown> }[];
    const api = services.find((s) => s.name === "api");
    expect(api?.settings).toBeDefined();
    expect(api?.settings).not.toHaveProperty("jwtSecret");
    expect(JSON.stringify(services)).not.toContain(TEST_SECRET);
  });

  it("needs no token for health, ready and openapi.json", async () => {
    for (const path of ["/api/health", "/api/ready", "/api/openapi.json"]) {
      expect((await gw.request(path)).status).toBe(200);
    }
  });
});
