/**
 * Authentication for the sandbox's API server, as kube-apiserver does it for the two kinds of bearer token it sees
 * here: the sandbox's own static token (the kubeconfig's: user `sandbox-admin` in group system:masters, i.e.
 * cluster-admin) and ServiceAccount tokens minted by the TokenRequest API
 * (`POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`, what `kubectl create token` calls): JWTs signed with a
 * key made at start-up, audience the API server's, bound to the ServiceAccount's uid (a token of a deleted or
 * re-created ServiceAccount no longer authenticates), user `system:serviceaccount:<ns>:<name>`.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { SignJWT, jwtVerify } from "jose";
import { badRequestError, invalidError } from "../status.ts";
import type { KubeObject } from "../types.ts";
import { AUTHENTICATED_GROUP, MASTERS_GROUP, serviceAccountUserInfo, type UserInfo } from "./rbac.ts";

export const API_AUDIENCE = "https://kubernetes.default.svc.cluster.local";
const ISSUER = "https://kubernetes.default.svc.cluster.local";
export const ADMIN_USER = "sandbox-admin";
/** kube-apiserver's bounds for spec.expirationSeconds. */
const MIN_EXPIRATION_SECONDS = 600;
const MAX_EXPIRATION_SECONDS = 2 ** 32;
const DEFAULT_EXPIRATION_SECONDS = 3600;

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Looks a ServiceAccount up (the store's getRef). */
export type ServiceAccountLookup = (namespace: string, name: string) => KubeObject | undefined;

export class Authenticator {
  readonly #adminToken: string;
  readonly #key: Uint8Array;
  readonly #lookup: ServiceAccountLookup;
  readonly #now: () => Date;

  constructor(adminToken: string, lookup: ServiceAccountLookup, now: () => Date = () => new Date()) {
    this.#adminToken = adminToken;
    this.#key = randomBytes(32);
    this.#lookup = lookup;
    this.#now = now;
  }

  /** The user of an `Authorization` header, or undefined (→ 401). */
  async authenticate(header: string | undefined): Promise<UserInfo | undefined> {
    const match = /^Bearer\s+(.+)$/i.exec(header ?? "");
    const token = (match?.[1] ?? "").trim();
    if (token === "") return undefined;
    if (safeEqual(token, this.#adminToken)) return { name: ADMIN_USER, groups: [MASTERS_GROUP, AUTHENTICATED_GROUP] };
    if (token.split(".").length !== 3) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        issuer: ISSUER,
        audience: API_AUDIENCE,
        currentDate: this.#now(),
      });
      const k8s = payload["kubernetes.io"];
      if (!isRecord(k8s) || typeof k8s.namespace !== "string" || !isRecord(k8s.serviceaccount)) return undefined;
      const { name, uid } = k8s.serviceaccount;
      if (typeof name !== "string" || typeof uid !== "string") return undefined;
      const sa = this.#lookup(k8s.namespace, name);
      if (sa === undefined || sa.metadata.uid !== uid || sa.metadata.deletionTimestamp !== undefined) return undefined;
      return serviceAccountUserInfo(k8s.namespace, name, uid);
    } catch {
      return undefined;
    }
  }

  /**
   * The TokenRequest subresource: validates the request body and answers it with `status.token` and
   * `status.expirationTimestamp` (the caller has checked that the ServiceAccount exists).
   */
  async tokenRequest(sa: KubeObject, body: Record<string, unknown>): Promise<KubeObject> {
    if (body.kind !== undefined && body.kind !== "TokenRequest") {
      throw badRequestError(
        `the kind in the data (${String(body.kind)}) does not match the expected kind (TokenRequest)`,
      );
    }
    const spec = isRecord(body.spec) ? body.spec : {};
    const requested = spec.expirationSeconds;
    const seconds = typeof requested === "number" ? requested : Number(requested ?? DEFAULT_EXPIRATION_SECONDS);
    const kind = { group: "authentication.k8s.io", resource: "tokenrequests", kind: "TokenRequest" };
    if (!Number.isInteger(seconds) || seconds < MIN_EXPIRATION_SECONDS) {
      throw invalidError(kind, "", [
        {
          reason: "FieldValueInvalid",
          field: "spec.expirationSeconds",
          message: `Invalid value: ${String(requested)}: may not specify a duration less than 10 minutes`,
        },
      ]);
    }
    if (seconds > MAX_EXPIRATION_SECONDS) {
      throw invalidError(kind, "", [
        {
          reason: "FieldValueTooLong",
          field: "spec.expirationSeconds",
          message: `Invalid value: ${String(requested)}: may not specify a duration larger than 2^32 seconds`,
        },
      ]);
    }
    const audiences =
      Array.isArray(spec.audiences) && spec.audiences.length > 0
        ? spec.audiences.filter((a): a is string => typeof a === "string")
        : [API_AUDIENCE];
    const now = this.#now();
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + seconds;
    const namespace = sa.metadata.namespace ?? "";
    const token = await new SignJWT({
      "kubernetes.io": {
        namespace,
        serviceaccount: { name: sa.metadata.name, uid: sa.metadata.uid ?? "" },
      },
    })
      .setProtectedHeader({ alg: "HS256", kid: "sandbox" })
      .setIssuer(ISSUER)
      .setSubject(`system:serviceaccount:${namespace}:${sa.metadata.name}`)
      .setAudience(audiences)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(randomBytes(16).toString("hex"))
      .sign(this.#key);
    return {
      kind: "TokenRequest",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { name: sa.metadata.name, namespace },
      spec: { audiences, expirationSeconds: seconds, boundObjectRef: spec.boundObjectRef ?? null },
      status: { token, expirationTimestamp: new Date(exp * 1000).toISOString().replace(/\.\d{3}Z$/, "Z") },
    };
  }
}
