import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { SignJWT } from "jose";
import { startGateway, type Gateway } from "../../fixtures/gateway.ts";

const WHOAMI = "/api/v1/k8s/widgets/whoami";
/** So slow that no token comes back while a test runs: the tests need no timing. */
const NO_REFILL = 0.001;

async function statuses(n: number, send: () => Promise<Response>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await send();
    await res.arrayBuffer();
    out.push(res.status);
  }
  return out;
}

async function whoamiCalls(gw: Gateway): Promise<number> {
  return (await gw.broker.call<{ whoamiCalls: number }>("v1.k8s.widgets.stats")).whoamiCalls;
}

async function forgedToken(userID: string): Promise<string> {
  return new SignJWT({ roles: ["admin"] })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(userID)
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode("not-the-gateway-secret-0123456789"));
}

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

describe("api rate limiting per user", () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway({ requestRateLimit: { rate: NO_REFILL, burst: 3 } });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it("answers 429 RATE_LIMITED with Retry-After once a user's burst is spent, without calling the action", async () => {
    const token = await gw.token({ userID: "alice" });
    expect(await statuses(3, () => gw.request(WHOAMI, { token }))).toEqual([200, 200, 200]);
    const before = await whoamiCalls(gw);
    const res = await gw.request(WHOAMI, { token });
    expect(res.status).toBe(429);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await res.json()) as { data: { retryAfter: number } };
    expect(body).toEqual({
      name: "MoleculerClientError",
      message: expect.stringMatching(/^Too many requests/),
      code: 429,
      type: "RATE_LIMITED",
      data: { retryAfter: expect.any(Number) },
    });
    const retryAfter = res.headers.get("retry-after") ?? "";
    expect(retryAfter).toMatch(/^[1-9]\d*$/);
    expect(Number(retryAfter)).toBe(body.data.retryAfter);
    expect(await whoamiCalls(gw)).toBe(before);
  });

  it("limits every method of the domain routes with the same budget", async () => {
    const token = await gw.token({ userID: "carol" });
    const send = [
      () => gw.request("/api/v1/k8s/widgets", { method: "POST", token, body: { name: "rl-1" } }),
      () => gw.request("/api/v1/k8s/widgets/rl-1", { token }),
      () => gw.request("/api/v1/k8s/widgets/rl-1", { method: "DELETE", token }),
      () => gw.request("/api/v1/k8s/widgets", { method: "POST", token, body: { name: "rl-2" } }),
    ];
    const seen: number[] = [];
    for (const s of send) seen.push((await s()).status);
    expect(seen).toEqual([200, 200, 403, 429]);
  });

  it("keeps one budget per user: another user is not slowed down", async () => {
    const dave = await gw.token({ userID: "dave" });
    const erin = await gw.token({ userID: "erin" });
    expect(await statuses(4, () => gw.request(WHOAMI, { token: dave }))).toEqual([200, 200, 200, 429]);
    expect(await statuses(3, () => gw.request(WHOAMI, { token: erin }))).toEqual([200, 200, 200]);
  });

  it("limits admins too, with the same budget", async () => {
    const root = await gw.token({ userID: "root", admin: true });
    expect(await statuses(4, () => gw.request(WHOAMI, { token: root }))).toEqual([200, 200, 200, 429]);
  });

  it("never limits health, ready and openapi.json", async () => {
    for (const path of ["/api/health", "/api/ready", "/api/openapi.json"]) {
      expect(new Set(await statuses(10, () => gw.request(path)))).toEqual(new Set([200]));
    }
  });
});

describe("api rate limiting of failed authentications", () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway({ requestRateLimit: { rate: NO_REFILL, burst: 3 } });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it("limits requests that fail authentication per client address, and a forged token spends nothing of its user's budget", async () => {
    const forged = await forgedToken("frank");
    expect(await statuses(3, () => gw.request(WHOAMI, { token: forged }))).toEqual([401, 401, 401]);
    expect(await statuses(2, () => gw.request(WHOAMI))).toEqual([429, 429]);
    const limited = await gw.request(WHOAMI, { token: forged });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // The real frank, from the same address, still has his whole budget.
    const frank = await gw.token({ userID: "frank" });
    expect(await statuses(4, () => gw.request(WHOAMI, { token: frank }))).toEqual([200, 200, 200, 429]);
  });
});

describe("api rate limiting from RATE_LIMIT and RATE_LIMIT_BURST", () => {
  it("reads the limit from the environment", async () => {
    await withEnv({ RATE_LIMIT: String(NO_REFILL), RATE_LIMIT_BURST: "2" }, async () => {
      const gw = await startGateway();
      try {
        const token = await gw.token({ userID: "alice" });
        expect(await statuses(3, () => gw.request(WHOAMI, { token }))).toEqual([200, 200, 429]);
      } finally {
        await gw.stop();
      }
    });
  });

  it("turns limiting off with RATE_LIMIT=0", async () => {
    await withEnv({ RATE_LIMIT: "0", RATE_LIMIT_BURST: "1" }, async () => {
      const gw = await startGateway();
      try {
        const token = await gw.token({ userID: "alice" });
        expect(new Set(await statuses(30, () => gw.request(WHOAMI, { token })))).toEqual(new Set([200]));
        expect(new Set(await statuses(30, () => gw.request(WHOAMI)))).toEqual(new Set([401]));
      } finally {
        await gw.stop();
      }
    });
  });

  it("refuses to start with a RATE_LIMIT that is not a number, rather than run without a limit", async () => {
    await withEnv({ RATE_LIMIT: "fast" }, async () => {
      await expect(startGateway()).rejects.toThrow(/RATE_LIMIT must be a number/);
    });
  });
});
