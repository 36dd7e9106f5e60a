/**
 * Maps whatever the cluster client throws to the suite's moleculer errors, in one function (docs/architecture.md,
 * "Errors"; STYLE §2.6). Callers branch on `code`/`type`; `data` never carries the raw response body or headers
 * (the gateway returns `data` as is): pass a `debug` logger to see them.
 */
import { Errors } from "moleculer";
import { ERROR_TYPES, type ValidationIssue } from "../errors.ts";

/** The parts of a Kubernetes `Status` body we read. */
export interface KubeStatus {
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
  };
}

/** Network-level failure codes (Node sockets and undici) that mean "the cluster cannot be reached now". */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_DESTROYED",
]);

type Debug = (message: string, detail?: unknown) => void;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** An error that is already one of ours (or moleculer's): it has a string `type` or a moleculer class name. */
function isMoleculerError(err: Record<string, unknown>): boolean {
  return (
    typeof err.code === "number" &&
    (typeof err.type === "string" ||
      (typeof err.name === "string" && /^(Moleculer|Validation|ServiceNot|RequestTimeout)/.test(err.name)))
  );
}

/** Reads a `Status` from an ApiException body: a JSON string (client-node 2.x), an object, or nothing. */
export function parseStatus(body: unknown): KubeStatus | undefined {
  let value: unknown = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  if (!isRecord(value)) return undefined;
  const status: KubeStatus = {};
  if (typeof value.message === "string") status.message = value.message;
  if (typeof value.reason === "string") status.reason = value.reason;
  if (typeof value.code === "number") status.code = value.code;
  if (isRecord(value.details)) {
    const d = value.details;
    status.details = {};
    if (typeof d.name === "string") status.details.name = d.name;
    if (typeof d.group === "string") status.details.group = d.group;
    if (typeof d.kind === "string") status.details.kind = d.kind;
    if (Array.isArray(d.causes)) {
      status.details.causes = d.causes.filter(isRecord).map((c) => ({
        ...(typeof c.reason === "string" ? { reason: c.reason } : {}),
        ...(typeof c.message === "string" ? { message: c.message } : {}),
        ...(typeof c.field === "string" ? { field: c.field } : {}),
      }));
    }
  }
  return status;
}

/** The HTTP status of an API error: ApiException `.code` (a number in 100..599) or a Watch error's `.statusCode`. */
function httpStatusOf(err: Record<string, unknown>): number | undefined {
  for (const value of [err.statusCode, err.code]) {
    if (typeof value === "number" && value >= 100 && value < 600) return value;
  }
  return undefined;
}

/** The network code found on the error or its `cause` chain (fetch wraps socket errors as `TypeError: fetch failed`). */
export function networkCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && isRecord(current); depth++) {
    const code = current.code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return code;
    const name = current.name;
    if (name === "TimeoutError" || name === "ConnectTimeoutError" || name === "SocketError") return String(name);
    if (name === "AbortError") return "ABORTED";
    if (current instanceof TypeError && current.message === "fetch failed" && !isRecord(current.cause)) {
      return "FETCH_FAILED";
    }
    current = current.cause;
  }
  return undefined;
}

function causesOf(status: KubeStatus | undefined): { field: string; message: string; type: string }[] {
  return (status?.details?.causes ?? []).map((c) => ({
    field: c.field ?? "",
    message: c.message ?? "",
    type: c.reason ?? "FieldValueInvalid",
  }));
}

function objectData(status: KubeStatus | undefined): Record<string, unknown> {
  const d = status?.details;
  return {
    ...(d?.kind === undefined ? {} : { kind: d.kind }),
    ...(d?.group === undefined || d.group === "" ? {} : { group: d.group }),
    ...(d?.name === undefined ? {} : { name: d.name }),
    ...(status?.reason === undefined ? {} : { reason: status.reason }),
  };
}

/** A 403 that says who we are and what we cannot do is RBAC refusing our service account: our bug, not the caller's. */
function isRbacRefusal(message: string): boolean {
  return /\bUser "[^"]*" cannot /.test(message);
}

/** Maps an HTTP status (+ the Status it came with) to our error. */
function fromHttp(code: number, status: KubeStatus | undefined, fallback: string): Errors.MoleculerError {
  const message = status?.message ?? fallback;
  switch (code) {
    case 404:
      return new Errors.MoleculerClientError(message, 404, ERROR_TYPES.K8S_NOT_FOUND, objectData(status));
    case 409: {
      const causes = causesOf(status);
      return new Errors.MoleculerClientError(message, 409, ERROR_TYPES.K8S_CONFLICT, {
        ...objectData(status),
        ...(causes.length > 0 ? { causes } : {}),
      });
    }
    case 400:
    case 422: {
      const causes = causesOf(status);
      const issues: ValidationIssue[] =
        causes.length > 0 ? causes : [{ field: "", message, type: status?.reason ?? "BadRequest" }];
      return new Errors.ValidationError(message, ERROR_TYPES.K8S_INVALID, issues);
    }
    case 401:
      return new Errors.MoleculerError(
        "The Kubernetes API refused our credentials (401 Unauthorized): check the kubeconfig or service account token of v1.kube",
        500,
        ERROR_TYPES.K8S_FORBIDDEN,
      );
    case 403:
      if (isRbacRefusal(message)) {
        return new Errors.MoleculerError(
          `The Kubernetes API does not allow v1.kube this operation (RBAC): ${message}`,
          500,
          ERROR_TYPES.K8S_FORBIDDEN,
          objectData(status),
        );
      }
      return new Errors.MoleculerClientError(message, 403, ERROR_TYPES.K8S_FORBIDDEN, objectData(status));
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return new Errors.MoleculerRetryableError(
        `Kubernetes API unavailable: ${message}`,
        503,
        ERROR_TYPES.K8S_UNAVAILABLE,
        { status: code },
      );
    default:
      return new Errors.MoleculerError(`Kubernetes API error ${code}: ${message}`, 500, ERROR_TYPES.K8S_ERROR, {
        status: code,
      });
  }
}

/**
 * Turns anything the cluster client throws into a moleculer error: ApiException (by `.code` and its Status body),
 * Watch errors (`.statusCode`), network failures (→ 503 retryable), our own errors (returned as they are), the rest
 * (→ 500 K8S_ERROR). `debug` receives the original error (body, headers) for the log.
 */
export function kubeError(err: unknown, debug?: Debug): Errors.MoleculerError {
  if (isRecord(err) && isMoleculerError(err)) return err as unknown as Errors.MoleculerError;
  debug?.("Kubernetes API call failed", err);
  if (isRecord(err)) {
    const code = httpStatusOf(err);
    if (code !== undefined) {
      const status = parseStatus(err.body);
      const fallback =
        typeof err.statusCode === "number" && err instanceof Error
          ? err.message
          : `HTTP ${code} from the Kubernetes API`;
      return fromHttp(code, status, fallback);
    }
  }
  const net = networkCode(err);
  if (net !== undefined) {
    const cause =
      isRecord(err) && isRecord(err.cause) && typeof err.cause.message === "string" ? err.cause.message : "";
    const detail = cause === "" ? (err instanceof Error ? err.message : net) : cause;
    return new Errors.MoleculerRetryableError(
      `Kubernetes API unavailable: ${detail}`,
      503,
      ERROR_TYPES.K8S_UNAVAILABLE,
      { reason: net },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  const unknownKind = /^Unrecognized API version and kind: (\S+) (\S+)/.exec(message);
  if (unknownKind !== null) {
    return new Errors.ValidationError(
      `The cluster does not serve ${unknownKind[2] ?? ""} in ${unknownKind[1] ?? ""}`,
      ERROR_TYPES.K8S_INVALID,
      [
        {
          field: "kind",
          message: `unknown kind for apiVersion ${unknownKind[1] ?? ""}`,
          type: "FieldValueNotSupported",
        },
      ],
    );
  }
  return new Errors.MoleculerError(`Kubernetes client error: ${message}`, 500, ERROR_TYPES.K8S_ERROR);
}
