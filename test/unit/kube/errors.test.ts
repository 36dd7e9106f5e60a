import { describe, it, expect } from "@jest/globals";
import { ApiException } from "@kubernetes/client-node";
import { Errors } from "moleculer";
import { kubeError, networkCode, parseStatus } from "../../../lib/kube/errors.ts";

function status(code: number, reason: string, message: string, details: Record<string, unknown> = {}): string {
  return JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    details,
    code,
  });
}

function apiException(code: number, body: string | undefined): ApiException<unknown> {
  return new ApiException(code, "Unsuccessful HTTP Request", body, {
    "content-type": "application/json",
    "x-secret": "s",
  });
}

describe("kubeError", () => {
  it("maps 404 to K8S_NOT_FOUND with the Status message and the object's kind and name", () => {
    const err = kubeError(
      apiException(
        404,
        status(404, "NotFound", 'deployments.apps "web" not found', {
          name: "web",
          group: "apps",
          kind: "deployments",
        }),
      ),
    );
    expect(err).toMatchObject({
      code: 404,
      type: "K8S_NOT_FOUND",
      message: 'deployments.apps "web" not found',
      data: { kind: "deployments", group: "apps", name: "web", reason: "NotFound" },
    });
    expect(err.retryable).toBe(false);
  });

  it("maps 409 to K8S_CONFLICT with the field-manager conflicts as causes", () => {
    const err = kubeError(
      apiException(
        409,
        status(409, "Conflict", 'Apply failed with 1 conflict: conflict with "other": .spec.replicas', {
          name: "web",
          kind: "deployments",
          causes: [{ reason: "FieldManagerConflict", message: 'conflict with "other"', field: ".spec.replicas" }],
        }),
      ),
    );
    expect(err).toMatchObject({
      code: 409,
      type: "K8S_CONFLICT",
      message: 'Apply failed with 1 conflict: conflict with "other": .spec.replicas',
      data: { causes: [{ field: ".spec.replicas", message: 'conflict with "other"', type: "FieldManagerConflict" }] },
    });
  });

  it("maps 422 to a ValidationError K8S_INVALID whose data lists the causes as {field, message, type}", () => {
    const err = kubeError(
      apiException(
        422,
        status(422, "Invalid", 'Deployment.apps "Bad_Name" is invalid: metadata.name: Invalid value', {
          name: "Bad_Name",
          kind: "Deployment",
          causes: [{ reason: "FieldValueInvalid", message: 'Invalid value: "Bad_Name"', field: "metadata.name" }],
        }),
      ),
    );
    expect(err).toBeInstanceOf(Errors.ValidationError);
    expect(err).toMatchObject({
      code: 422,
      type: "K8S_INVALID",
      data: [{ field: "metadata.name", message: 'Invalid value: "Bad_Name"', type: "FieldValueInvalid" }],
    });
  });

  it("maps 400 without causes to a 422 K8S_INVALID carrying the message", () => {
    const err = kubeError(apiException(400, status(400, "BadRequest", "fieldManager is required")));
    expect(err).toMatchObject({
      code: 422,
      type: "K8S_INVALID",
      data: [{ field: "", message: "fieldManager is required", type: "BadRequest" }],
    });
  });

  it("maps a quota refusal (403) to a client error K8S_FORBIDDEN with the Status message", () => {
    const message =
      'pods "web" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2';
    const err = kubeError(apiException(403, status(403, "Forbidden", message, { name: "web", kind: "pods" })));
    expect(err).toMatchObject({ code: 403, type: "K8S_FORBIDDEN", message });
  });

  it("maps an RBAC refusal of our own account (403) to a 500 K8S_FORBIDDEN", () => {
    const message =
      'deployments.apps is forbidden: User "system:serviceaccount:k8s:moleculer" cannot create resource "deployments" in API group "apps" in the namespace "a"';
    const err = kubeError(apiException(403, status(403, "Forbidden", message)));
    expect(err).toMatchObject({ code: 500, type: "K8S_FORBIDDEN" });
    expect(err.message).toContain("RBAC");
  });

  it("maps 401 to a 500 K8S_FORBIDDEN that says our credentials were refused", () => {
    const err = kubeError(new ApiException(401, "Unauthorized", undefined, {}));
    expect(err).toMatchObject({ code: 500, type: "K8S_FORBIDDEN" });
    expect(err.message).toContain("refused our credentials");
    expect(err.retryable).toBe(false);
  });

  it.each([429, 500, 502, 503, 504])("maps %i to a retryable 503 K8S_UNAVAILABLE", (code) => {
    const err = kubeError(apiException(code, status(code, "ServiceUnavailable", "try again")));
    expect(err).toBeInstanceOf(Errors.MoleculerRetryableError);
    expect(err).toMatchObject({ code: 503, type: "K8S_UNAVAILABLE", retryable: true });
  });

  it("maps a refused connection (fetch failed, cause ECONNREFUSED) to a retryable 503", () => {
    const cause = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    const err = kubeError(new TypeError("fetch failed", { cause }));
    expect(err).toMatchObject({
      code: 503,
      type: "K8S_UNAVAILABLE",
      retryable: true,
      data: { reason: "ECONNREFUSED" },
    });
    expect(err.message).toContain("ECONNREFUSED");
  });

  it("maps a reset connection and a timeout to a retryable 503", () => {
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    expect(kubeError(reset)).toMatchObject({ code: 503, type: "K8S_UNAVAILABLE" });
    expect(kubeError(new DOMException("The operation was aborted due to timeout", "TimeoutError"))).toMatchObject({
      code: 503,
      type: "K8S_UNAVAILABLE",
    });
    expect(kubeError(new TypeError("fetch failed"))).toMatchObject({ code: 503, type: "K8S_UNAVAILABLE" });
  });

  it("maps a watch error (statusCode) by its status", () => {
    const err = Object.assign(new Error("Service Unavailable"), { statusCode: 503 });
    expect(kubeError(err)).toMatchObject({ code: 503, type: "K8S_UNAVAILABLE" });
  });

  it("maps an unexpected status to a 500 K8S_ERROR", () => {
    expect(kubeError(apiException(418, status(418, "Teapot", "short and stout")))).toMatchObject({
      code: 500,
      type: "K8S_ERROR",
    });
    expect(kubeError(new Error("boom"))).toMatchObject({ code: 500, type: "K8S_ERROR" });
  });

  it("maps an unknown kind to a 422 K8S_INVALID on the field kind", () => {
    expect(kubeError(new Error("Unrecognized API version and kind: v1 Gizmo"))).toMatchObject({
      code: 422,
      type: "K8S_INVALID",
      data: [{ field: "kind" }],
    });
  });

  it("returns moleculer errors unchanged", () => {
    const own = new Errors.MoleculerClientError("nope", 404, "K8S_NOT_FOUND");
    expect(kubeError(own)).toBe(own);
  });

  it("never puts the raw body or headers into data, and hands them to the debug logger", () => {
    const logged: unknown[] = [];
    const raw = status(409, "Conflict", "conflict", { name: "x", kind: "configmaps" });
    const err = kubeError(apiException(409, raw), (_msg, detail) => logged.push(detail));
    const data = JSON.stringify(err.data);
    expect(data).not.toContain("x-secret");
    expect(data).not.toContain('"kind":"Status"');
    expect(logged).toHaveLength(1);
  });

  it("answers a body that is not JSON with a generic message", () => {
    expect(kubeError(apiException(404, "<html>nope</html>"))).toMatchObject({ code: 404, type: "K8S_NOT_FOUND" });
  });
});

describe("parseStatus and networkCode", () => {
  it("reads a Status from a string or an object and ignores anything else", () => {
    expect(parseStatus(status(404, "NotFound", "gone"))).toMatchObject({
      code: 404,
      reason: "NotFound",
      message: "gone",
    });
    expect(parseStatus({ message: "m" })).toEqual({ message: "m" });
    expect(parseStatus("not json")).toBeUndefined();
    expect(parseStatus(undefined)).toBeUndefined();
  });

  it("finds a network code down the cause chain", () => {
    const inner = Object.assign(new Error("x"), { code: "UND_ERR_SOCKET" });
    expect(networkCode(new Error("outer", { cause: new Error("mid", { cause: inner }) }))).toBe("UND_ERR_SOCKET");
    expect(networkCode(new Error("plain"))).toBeUndefined();
  });
});
