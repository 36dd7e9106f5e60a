import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SignJWT, generateKeyPair, base64url, type JWTPayload } from "jose";
import { bearerToken, loadJwtSecret, signToken, verifyToken, SECRET_FILE } from "../../lib/auth.ts";

const SECRET = "unit-test-secret-0123456789abcdef";
const key = new TextEncoder().encode(SECRET);
const now = (): number => Math.floor(Date.now() / 1000);
/** Claims of any shape, for tokens the gateway must refuse (jose types `sub` and `exp`). */
const claims = (payload: Record<string, unknown>): JWTPayload => payload as JWTPayload;

function unsigned(payload: Record<string, unknown>): string {
  const enc = (o: unknown): string => base64url.encode(JSON.stringify(o));
  return `${enc({ alg: "none", typ: "JWT" })}.${enc(payload)}.`;
}

describe("lib/auth loadJwtSecret", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "auth-unit-"));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("uses JWT_SECRET when it is set and writes nothing", () => {
    const dataDir = path.join(dir, "configured");
    expect(loadJwtSecret({ jwtSecret: "from-env", dataDir })).toBe("from-env");
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it("generates a secret on first start, in a new directory, readable only by the owner", () => {
    const dataDir = path.join(dir, "fresh", "nested");
    const secret = loadJwtSecret({ jwtSecret: undefined, dataDir });
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    const file = path.join(dataDir, SECRET_FILE);
    expect(fs.readFileSync(file, "utf8").trim()).toBe(secret);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it("reuses the kept secret after a restart", () => {
    const dataDir = path.join(dir, "reuse");
    const first = loadJwtSecret({ jwtSecret: undefined, dataDir });
    expect(loadJwtSecret({ jwtSecret: undefined, dataDir })).toBe(first);
    expect(loadJwtSecret({ jwtSecret: undefined, dataDir: path.join(dir, "other") })).not.toBe(first);
  });

  it("refuses an empty secret file instead of signing with an empty key", () => {
    const dataDir = path.join(dir, "empty");
    fs.mkdirSync(dataDir);
    fs.writeFileSync(path.join(dataDir, SECRET_FILE), "\n");
    expect(() => loadJwtSecret({ jwtSecret: undefined, dataDir })).toThrow(/is empty/);
  });
});

describe("lib/auth signToken/verifyToken", () => {
  it("round-trips userID and roles", async () => {
    await expect(verifyToken(await signToken({ userID: "alice" }, SECRET), SECRET)).resolves.toEqual({
      userID: "alice",
      roles: [],
    });
    await expect(verifyToken(await signToken({ userID: "root", admin: true }, SECRET), SECRET)).resolves.toEqual({
      userID: "root",
      roles: ["admin"],
    });
  });

  it("signs HS256 tokens with sub, roles, iat and an exp 12 hours ahead by default", async () => {
    const token = await signToken({ userID: "alice" }, SECRET);
    const [header = "", payload = ""] = token.split(".");
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(header)))).toEqual({ alg: "HS256", typ: "JWT" });
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as Record<string, number>;
    expect(claims["exp"]! - claims["iat"]!).toBe(12 * 3600);
    const short = await signToken({ userID: "alice", expiresIn: "30m" }, SECRET);
    const shortClaims = JSON.parse(new TextDecoder().decode(base64url.decode(short.split(".")[1] ?? ""))) as Record<
      string,
      number
    >;
    expect(shortClaims["exp"]! - shortClaims["iat"]!).toBe(1800);
  });

  it("rejects an empty userID when signing", async () => {
    await expect(signToken({ userID: "" }, SECRET)).rejects.toThrow(/userID/);
  });

  const rejections: [string, () => Promise<string>, RegExp][] = [
    ["garbage", async () => "not.a.jwt", /Invalid token/],
    [
      "another secret's signature",
      async () => signToken({ userID: "alice" }, "some-other-secret-0123456789abcdef"),
      /bad signature/,
    ],
    ["alg none", async () => unsigned({ sub: "alice", exp: now() + 600 }), /Invalid token/],
    [
      "HS512",
      async () =>
        new SignJWT({}).setProtectedHeader({ alg: "HS512" }).setSubject("a").setExpirationTime("1h").sign(key),
      /algorithm not allowed/,
    ],
    [
      "HS384",
      async () =>
        new SignJWT({}).setProtectedHeader({ alg: "HS384" }).setSubject("a").setExpirationTime("1h").sign(key),
      /algorithm not allowed/,
    ],
    [
      "RS256",
      async () => {
        const { privateKey } = await generateKeyPair("RS256");
        return new SignJWT({})
          .setProtectedHeader({ alg: "RS256" })
          .setSubject("a")
          .setExpirationTime("1h")
          .sign(privateKey);
      },
      /algorithm not allowed/,
    ],
    [
      "expired",
      async () =>
        new SignJWT({})
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("a")
          .setExpirationTime(now() - 60)
          .sign(key),
      /expired/,
    ],
    ["no exp", async () => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("a").sign(key), /no expiry/],
    [
      "nbf in the future",
      async () =>
        new SignJWT({})
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("a")
          .setNotBefore(now() + 120)
          .setExpirationTime("1h")
          .sign(key),
      /not valid yet/,
    ],
    [
      "no sub",
      async () => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(key),
      /no subject/,
    ],
    [
      "a numeric sub",
      async () =>
        new SignJWT(claims({ sub: 42 })).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(key),
      /no subject/,
    ],
    [
      "an object sub",
      async () =>
        new SignJWT(claims({ sub: { id: "a" } }))
          .setProtectedHeader({ alg: "HS256" })
          .setExpirationTime("1h")
          .sign(key),
      /no subject/,
    ],
    [
      "an exp that is not a number",
      async () => new SignJWT(claims({ sub: "a", exp: "9999999999" })).setProtectedHeader({ alg: "HS256" }).sign(key),
      /claim 'exp' is malformed/,
    ],
    [
      "roles an array of non-strings",
      async () =>
        new SignJWT({ roles: [1, { admin: true }] })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("a")
          .setExpirationTime("1h")
          .sign(key),
      /roles/,
    ],
    [
      "roles null",
      async () =>
        new SignJWT({ roles: null })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("a")
          .setExpirationTime("1h")
          .sign(key),
      /roles/,
    ],
    [
      "roles not a string array",
      async () =>
        new SignJWT({ roles: "admin" })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("a")
          .setExpirationTime("1h")
          .sign(key),
      /roles/,
    ],
  ];
  it.each(rejections)("rejects a token with %s as 401 UNAUTHORIZED", async (_what, make, message) => {
    await expect(verifyToken(await make(), SECRET)).rejects.toMatchObject({
      code: 401,
      type: "UNAUTHORIZED",
      message: expect.stringMatching(message),
    });
  });

  it("tolerates a few seconds of clock skew", async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("alice")
      .setNotBefore(now() + 2)
      .setExpirationTime(now() - 2)
      .sign(key);
    await expect(verifyToken(token, SECRET)).resolves.toEqual({ userID: "alice", roles: [] });
  });
});

describe("lib/auth bearerToken", () => {
  it("reads the token of a Bearer header, any case", () => {
    expect(bearerToken("Bearer aaa.bbb.ccc")).toBe("aaa.bbb.ccc");
    expect(bearerToken("bearer aaa.bbb.ccc")).toBe("aaa.bbb.ccc");
    expect(bearerToken("Bearer aaa.bbb.")).toBe("aaa.bbb.");
  });

  it.each([
    [undefined, /Missing/],
    ["", /Missing/],
    ["Basic YWxpY2U6c2VjcmV0", /Malformed/],
    ["Bearer", /Malformed/],
    ["Bearer ", /Malformed/],
    ["Bearer aaa.bbb.ccc extra", /Malformed/],
    ["Bearer aaa", /Malformed/],
    ["Token aaa.bbb.ccc", /Malformed/],
  ])("rejects %p as 401", (header, message) => {
    expect(() => bearerToken(header)).toThrow(
      expect.objectContaining({ code: 401, message: expect.stringMatching(message) }),
    );
  });
});
