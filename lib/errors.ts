/**
 * The suite's errors, created in one place (docs/adr/0004-error-map.md).
 *
 * Each one is an instance of one of moleculer's own classes (MoleculerClientError, MoleculerRetryableError,
 * MoleculerServerError, ValidationError), because those are the only classes moleculer rebuilds on the far side
 * of a transporter: a subclass of our own would arrive as a plain Error. Callers branch on `type` and `code`,
 * never on `instanceof`.
 */
import { Errors } from "moleculer";

export const ERROR_TYPES = {
  NOT_FOUND: "NOT_FOUND",
  ALREADY_EXISTS: "ALREADY_EXISTS",
  IN_USE: "IN_USE",
  FORBIDDEN: "FORBIDDEN",
  UNAUTHORIZED: "UNAUTHORIZED",
  VALIDATION_ERROR: "VALIDATION_ERROR",
  NAMESPACE_LOCKED: "NAMESPACE_LOCKED",
  DATABASE_UNAVAILABLE: "DATABASE_UNAVAILABLE",
  K8S_NOT_FOUND: "K8S_NOT_FOUND",
  K8S_CONFLICT: "K8S_CONFLICT",
  K8S_INVALID: "K8S_INVALID",
  K8S_FORBIDDEN: "K8S_FORBIDDEN",
  K8S_UNAVAILABLE: "K8S_UNAVAILABLE",
  K8S_UNSUPPORTED: "K8S_UNSUPPORTED",
  K8S_ERROR: "K8S_ERROR",
} as const;
export type ErrorType = (typeof ERROR_TYPES)[keyof typeof ERROR_TYPES];

/** One entry of a ValidationError's `data`, in fastest-validator's shape. */
export interface ValidationIssue {
  type: string;
  field: string;
  message: string;
  actual?: unknown;
}

/** 404: the thing does not exist, or the caller may not know that it does. */
export function notFound(what: string, id: string): Errors.MoleculerClientError {
  return new Errors.MoleculerClientError(`${what} '${id}' not found`, 404, ERROR_TYPES.NOT_FOUND, { what, id });
}

/** 409: a unique name is taken. */
export function alreadyExists(what: string, field: string, value: unknown): Errors.MoleculerClientError {
  return new Errors.MoleculerClientError(
    `${what} with ${field} '${String(value)}' already exists`,
    409,
    ERROR_TYPES.ALREADY_EXISTS,
    { field, value },
  );
}

/** 409: something else still uses the thing to be removed or changed. */
export function inUse(what: string, id: string, usedBy: string[]): Errors.MoleculerClientError {
  return new Errors.MoleculerClientError(`${what} '${id}' is in use by ${usedBy.join(", ")}`, 409, ERROR_TYPES.IN_USE, {
    id,
    usedBy,
  });
}

/** 403: the caller may see the thing but not do this to it. */
export function forbidden(message: string, data?: Record<string, unknown>): Errors.MoleculerClientError {
  return new Errors.MoleculerClientError(message, 403, ERROR_TYPES.FORBIDDEN, data);
}

/** 401: no valid credentials. */
export function unauthorized(message = "Unauthorized"): Errors.MoleculerClientError {
  return new Errors.MoleculerClientError(message, 401, ERROR_TYPES.UNAUTHORIZED);
}

/** 422 in fastest-validator's shape, for rules a schema cannot express (uniqueness aside: that is 409). */
export function invalid(field: string, message: string, type = "invalid", actual?: unknown): Errors.ValidationError {
  const issue: ValidationIssue = { type, field, message };
  if (actual !== undefined) issue.actual = actual;
  return new Errors.ValidationError(message, ERROR_TYPES.VALIDATION_ERROR, [issue]);
}

/** 422 with several issues at once (the message is the issue's when there is one, as fastest-validator's). */
export function validationError(issues: ValidationIssue[]): Errors.ValidationError {
  const first = issues[0];
  return new Errors.ValidationError(
    issues.length === 1 && first !== undefined ? first.message : "Parameters validation error!",
    ERROR_TYPES.VALIDATION_ERROR,
    issues,
  );
}

/** 503, retryable: a dependency (database, cluster) cannot be reached now. */
export function unavailable(
  what: string,
  message: string,
  type: ErrorType = ERROR_TYPES.K8S_UNAVAILABLE,
  data?: Record<string, unknown>,
): Errors.MoleculerRetryableError {
  return new Errors.MoleculerRetryableError(`${what} unavailable: ${message}`, 503, type, data);
}

/** True when `err` looks like an error with the given HTTP-ish code (works across the transporter). */
export function hasCode(err: unknown, code: number): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

/** True when `err` carries the given moleculer error `type`. */
export function hasType(err: unknown, type: string): boolean {
  return typeof err === "object" && err !== null && (err as { type?: unknown }).type === type;
}
