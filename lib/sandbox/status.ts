/**
 * Kubernetes `Status` errors, with the messages, reasons and details kube-apiserver writes
 * (k8s.io/apimachinery/pkg/api/errors/errors.go).
 */
import type { ResourceType } from "./types.ts";

export interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** The body of a `Status` object (meta/v1). */
export interface V1StatusLike {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, unknown>;
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** An error that the HTTP layer answers with its `status` body and `status.code`. */
export class StatusError extends Error {
  readonly status: V1StatusLike;
  constructor(status: V1StatusLike) {
    super(status.message ?? status.reason ?? "error");
    this.name = "StatusError";
    this.status = status;
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string | undefined {
    return this.status.reason;
  }
}

export function isStatusError(err: unknown): err is StatusError {
  return err instanceof StatusError;
}

type RT = Pick<ResourceType, "group" | "resource"> & Partial<Pick<ResourceType, "kind">>;

/** "deployments.apps", "pods": the qualified resource as messages print it. */
export function qualifiedResource(rt: RT): string {
  return rt.group === "" ? rt.resource : `${rt.resource}.${rt.group}`;
}

/** "Deployment.apps", "Pod": the qualified kind as Invalid messages print it. */
function qualifiedKind(rt: RT): string {
  const kind = rt.kind ?? rt.resource;
  return rt.group === "" ? kind : `${kind}.${rt.group}`;
}

function failure(code: number, reason: string, message: string, details?: StatusDetails): StatusError {
  return new StatusError({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(details === undefined ? {} : { details }),
    code,
  });
}

function details(rt: RT, name: string): StatusDetails {
  return { ...(name === "" ? {} : { name }), group: rt.group, kind: rt.resource };
}

/** 404 `deployments.apps "web" not found`. */
export function notFoundError(rt: RT, name: string): StatusError {
  return failure(404, "NotFound", `${qualifiedResource(rt)} "${name}" not found`, details(rt, name));
}

/** 404 for a path the server does not serve. */
export function pathNotFoundError(): StatusError {
  return failure(404, "NotFound", "the server could not find the requested resource", {});
}

/** 409 `deployments.apps "web" already exists`. */
export function alreadyExistsError(rt: RT, name: string): StatusError {
  return failure(409, "AlreadyExists", `${qualifiedResource(rt)} "${name}" already exists`, details(rt, name));
}

/** 409 `Operation cannot be fulfilled on deployments.apps "web": <message>`. */
export function conflictError(rt: RT, name: string, message: string): StatusError {
  return failure(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedResource(rt)} "${name}": ${message}`,
    details(rt, name),
  );
}

/** The message of a stale-resourceVersion conflict. */
export const OBJECT_MODIFIED =
  "the object has been modified; please apply your changes to the latest version and try again";

/** One field error as field.Error.Error() prints it: `spec.replicas: Invalid value: -1: must be greater than or equal to 0`. */
export function fieldErrorMessage(cause: StatusCause): string {
  return cause.field === undefined || cause.field === "" ? cause.message : `${cause.field}: ${cause.message}`;
}

/** 422 `Deployment.apps "web" is invalid: <field errors>`; causes carry each field error. */
export function invalidError(rt: RT, name: string, causes: StatusCause[]): StatusError {
  const messages = causes.map(fieldErrorMessage);
  const aggregate = messages.length === 1 ? (messages[0] ?? "") : `[${messages.join(", ")}]`;
  return failure(422, "Invalid", `${qualifiedKind(rt)} "${name}" is invalid: ${aggregate}`, {
    ...(name === "" ? {} : { name }),
    group: rt.group,
    kind: rt.kind ?? rt.resource,
    causes: causes.map((c) => ({
      reason: c.reason ?? "FieldValueInvalid",
      message: c.message,
      ...(c.field === undefined ? {} : { field: c.field }),
    })),
  });
}

/**
 * 422 as NewGenericServerResponse writes it (a JSON patch that cannot be applied), with the cause appended.
 */
export function unprocessableError(cause: string): StatusError {
  return failure(422, "Invalid", `the server rejected our request due to an error in our request: ${cause}`, {});
}

/** 403 `pods "web" is forbidden: <message>`. */
export function forbiddenError(rt: RT, name: string, message: string): StatusError {
  const subject = name === "" ? qualifiedResource(rt) : `${qualifiedResource(rt)} "${name}"`;
  return failure(403, "Forbidden", `${subject} is forbidden: ${message}`, details(rt, name));
}

/** 400 with the message as given. */
export function badRequestError(message: string): StatusError {
  return failure(400, "BadRequest", message);
}

/** 410 Gone. */
export function goneError(message: string): StatusError {
  return failure(410, "Gone", message);
}

/** 410 Expired: what a watch from a too-old resourceVersion gets. */
export function expiredError(message: string): StatusError {
  return failure(410, "Expired", message);
}

/** 405 `<action> is not supported on resources of kind "deployments.apps"`. */
export function methodNotAllowedError(rt: RT, action: string): StatusError {
  return failure(
    405,
    "MethodNotAllowed",
    `${action} is not supported on resources of kind "${qualifiedResource(rt)}"`,
    {
      group: rt.group,
      kind: rt.resource,
    },
  );
}

/** 401 Unauthorized. */
export function unauthorizedError(): StatusError {
  return failure(401, "Unauthorized", "Unauthorized");
}

/** 415 for a body in a media type the endpoint does not take. */
export function unsupportedMediaTypeError(accepted: string[]): StatusError {
  return failure(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`,
  );
}

/** 406 for an Accept header the server cannot satisfy. */
export function notAcceptableError(accepted: string[]): StatusError {
  return failure(406, "NotAcceptable", `only the following media types are accepted: ${accepted.join(", ")}`);
}

/** 500 for a failure inside the sandbox itself. */
export function internalError(message: string): StatusError {
  return failure(500, "InternalError", `Internal error occurred: ${message}`);
}

/** The `Status` body for a successful delete that removed the object at once. */
export function successStatus(rt: RT, name: string, uid?: string): V1StatusLike {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Success",
    details: { name, group: rt.group, kind: rt.resource, ...(uid === undefined ? {} : { uid }) },
    code: 200,
  };
}
