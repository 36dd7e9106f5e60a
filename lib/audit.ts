/**
 * What the gateway's audit log says about a change (docs/architecture.md, "The gateway"). Pure: the gateway hands
 * over what it knows of one request, this decides what may be written. Never a secret: no request body except the
 * identifying fields in AUDIT_FIELDS (never `value` or anything else), no headers, no query string, strings cut
 * short.
 */

/** HTTP methods whose requests are changes and get an audit line. */
export const AUDITED_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The only parameter or result fields an audit line may carry: they name the object, never its content. */
export const AUDIT_FIELDS = ["id", "name", "namespace", "deployment", "key", "image", "replicas", "revision"] as const;
export type AuditField = (typeof AUDIT_FIELDS)[number];

/** Longest string kept from a request (a 1 MB "name" that failed validation is not worth logging whole). */
export const AUDIT_MAX_STRING = 200;

/** Which object a change was about: scalar identifying fields from the params, else from the result. */
export type AuditObject = Partial<Record<AuditField, string | number | boolean>>;

/** One audit line. */
export interface AuditEntry {
  audit: "change";
  /** ISO 8601, when the answer was sent. */
  time: string;
  userID: string;
  roles: string[];
  /** The action the route called, e.g. "v1.k8s.deployments.create". */
  action: string;
  method: string;
  /** The request path with its ids, without the query string. */
  path: string;
  object: AuditObject;
  /** HTTP status of the answer; null when the client left before it was sent. */
  status: number | null;
  durationMs: number;
  requestID?: string;
}

/** What the gateway knows of one change when it is answered. */
export interface AuditInput {
  userID: string;
  roles: readonly string[];
  action: string;
  method: string;
  /** The request URL as received (query string allowed: it is dropped). */
  url: string;
  /** The action's params as the gateway built them (body, query and path params). */
  params: unknown;
  /** The action's result, when it succeeded. */
  result?: unknown;
  status: number | null;
  time: Date;
  durationMs: number;
  requestID?: string;
}

/** Whether a request with this method is a change to audit. */
export function isAudited(method: string | undefined): boolean {
  return method !== undefined && AUDITED_METHODS.has(method.toUpperCase());
}

function shorten(value: string): string {
  return value.length <= AUDIT_MAX_STRING ? value : `${value.slice(0, AUDIT_MAX_STRING)}…`;
}

/** The AUDIT_FIELDS of an object that hold a string, finite number or boolean; everything else is left out. */
export function identifyingFields(source: unknown): AuditObject {
  const picked: AuditObject = {};
  if (typeof source !== "object" || source === null || Array.isArray(source)) return picked;
  for (const field of AUDIT_FIELDS) {
    // Own properties only: a "__proto__" key in a JSON body must not make inherited values appear.
    if (!Object.prototype.hasOwnProperty.call(source, field)) continue;
    const value: unknown = (source as Record<string, unknown>)[field];
    if (typeof value === "string") picked[field] = shorten(value);
    else if ((typeof value === "number" && Number.isFinite(value)) || typeof value === "boolean") picked[field] = value;
  }
  return picked;
}

/** The path part of a URL, cut short. */
export function auditPath(url: string): string {
  const q = url.search(/[?#]/);
  return shorten(q === -1 ? url : url.slice(0, q));
}

/**
 * The audit line of one change. `object` takes the identifying fields of the params (what the caller named) and
 * adds those of the result it lacks (the id a create assigned).
 */
export function auditEntry(input: AuditInput): AuditEntry {
  const object: AuditObject = { ...identifyingFields(input.result), ...identifyingFields(input.params) };
  return {
    audit: "change",
    time: input.time.toISOString(),
    userID: shorten(input.userID),
    roles: input.roles.map(shorten),
    action: input.action,
    method: input.method.toUpperCase(),
    path: auditPath(input.url),
    object,
    status: input.status,
    durationMs: Math.round(input.durationMs * 10) / 10,
    ...(input.requestID === undefined ? {} : { requestID: input.requestID }),
  };
}
