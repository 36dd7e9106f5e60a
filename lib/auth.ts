/**
 * Gateway authentication (docs/architecture.md, "Access"): HS256 JWTs signed and verified with `jose`, and the key
 * they use: `JWT_SECRET`, or a secret generated on first start and kept in `<DATA_DIR>/jwt-secret` so that the
 * gateway and `npm run token` agree on it across restarts.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { Errors } from "moleculer";
import { unauthorized } from "./errors.ts";
import { ADMIN_ROLE } from "./meta.ts";
import type { SuiteConfig } from "./config.ts";

/** The only algorithm the gateway signs and accepts. */
export const JWT_ALGORITHM = "HS256";
/** Clock skew tolerated on `exp` and `nbf`, in seconds. */
export const CLOCK_TOLERANCE_SECONDS = 5;
/** Lifetime of a token when the caller gives none. */
export const DEFAULT_EXPIRES_IN = "12h";
/** File name of the generated secret under the data directory. */
export const SECRET_FILE = "jwt-secret";

/** Who a verified token says the caller is: becomes `ctx.meta.userID` and `ctx.meta.roles`. */
export interface Identity {
  userID: string;
  roles: string[];
}

export interface SignTokenOptions {
  userID: string;
  /** Adds the `admin` role. */
  admin?: boolean;
  /** A jose duration such as "12h", "30m", "7d" (default 12h). */
  expiresIn?: string;
}

/**
 * The key for signing and verifying tokens: `config.jwtSecret` when set, else the secret kept in
 * `<dataDir>/jwt-secret`, generated (32 random bytes, base64url, mode 0600) when that file does not exist yet.
 * Synchronous so that a service can call it from `created()`. Throws when the file exists but is empty.
 */
export function loadJwtSecret(config: Pick<SuiteConfig, "jwtSecret" | "dataDir">): string {
  if (config.jwtSecret !== undefined && config.jwtSecret !== "") return config.jwtSecret;
  const file = path.join(config.dataDir, SECRET_FILE);
  const existing = readSecretFile(file);
  if (existing !== undefined) return existing;
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString("base64url");
  try {
    // "wx": never overwrite a secret another process wrote in the meantime; read theirs instead.
    fs.writeFileSync(file, `${secret}\n`, { flag: "wx", mode: 0o600 });
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const raced = readSecretFile(file);
    if (raced === undefined) throw new Error(`${file} disappeared while it was being created`);
    return raced;
  }
}

function readSecretFile(file: string): string | undefined {
  let raw: string;
  try {
    raw = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const secret = raw.trim();
  if (secret === "") throw new Error(`${file} is empty: delete it to generate a new JWT secret, or set JWT_SECRET`);
  return secret;
}

function keyOf(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** Signs an HS256 token with `sub` = userID, `roles` (["admin"] with `admin`), `iat` and `exp`. */
export async function signToken(options: SignTokenOptions, secret: string): Promise<string> {
  if (options.userID === "") throw new Error("userID must not be empty");
  return new SignJWT({ roles: options.admin === true ? [ADMIN_ROLE] : [] })
    .setProtectedHeader({ alg: JWT_ALGORITHM, typ: "JWT" })
    .setSubject(options.userID)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? DEFAULT_EXPIRES_IN)
    .sign(keyOf(secret));
}

/**
 * Verifies a token: HS256 only (so `alg: none`, HS512 and RS256 fail), a valid signature, `exp` required, `exp`
 * and `nbf` checked with a small tolerance, a non-empty string `sub`, and `roles` absent or an array of strings.
 * Throws a 401 UNAUTHORIZED (lib/errors.ts) for every failure; the message says which kind, never the token.
 */
export async function verifyToken(token: string, secret: string): Promise<Identity> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, keyOf(secret), {
      algorithms: [JWT_ALGORITHM],
      requiredClaims: ["exp"],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    }));
  } catch (err) {
    throw tokenError(err);
  }
  const sub = payload["sub"];
  if (typeof sub !== "string" || sub === "") throw unauthorized("Invalid token: no subject");
  const roles = payload["roles"];
  if (roles !== undefined && !(Array.isArray(roles) && roles.every((r) => typeof r === "string"))) {
    throw unauthorized("Invalid token: roles must be an array of strings");
  }
  return { userID: sub, roles: roles === undefined ? [] : [...(roles as string[])] };
}

function tokenError(err: unknown): Errors.MoleculerClientError {
  if (err instanceof joseErrors.JWTExpired) return unauthorized("Token expired");
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.reason === "missing") {
      return unauthorized(err.claim === "exp" ? "Invalid token: no expiry" : `Invalid token: no '${err.claim}' claim`);
    }
    // jose's "invalid": a time claim that is not a number (e.g. "exp": "9999999999").
    if (err.reason === "invalid") return unauthorized(`Invalid token: claim '${err.claim}' is malformed`);
    if (err.claim === "nbf") return unauthorized("Token not valid yet");
    return unauthorized(`Invalid token: claim '${err.claim}' rejected`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return unauthorized("Invalid token: algorithm not allowed");
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return unauthorized("Invalid token: bad signature");
  return unauthorized("Invalid token");
}

/**
 * The token in an `Authorization: Bearer <token>` header, or a 401 naming what is wrong with the header.
 * (`undefined` = no header: the caller gave no credentials at all.)
 */
export function bearerToken(header: string | undefined): string {
  if (header === undefined || header === "") throw unauthorized("Missing bearer token");
  const match = /^Bearer +([A-Za-z0-9\-_]+(?:\.[A-Za-z0-9\-_]*){2}) *$/i.exec(header);
  if (match?.[1] === undefined) throw unauthorized("Malformed Authorization header: expected 'Bearer <JWT>'");
  return match[1];
}
