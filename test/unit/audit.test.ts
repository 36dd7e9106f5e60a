import { describe, it, expect } from "@jest/globals";
import {
  AUDIT_FIELDS,
  AUDIT_MAX_STRING,
  auditEntry,
  auditPath,
  identifyingFields,
  isAudited,
  type AuditInput,
} from "../../lib/audit.ts";

const SECRET = "s3cr3t-Value-never-logged";

function input(overrides: Partial<AuditInput> = {}): AuditInput {
  return {
    userID: "alice",
    roles: [],
    action: "v1.k8s.envs.create",
    method: "POST",
    url: "/api/v1/k8s/envs",
    params: {},
    status: 200,
    time: new Date("2026-11-26T20:00:00.000Z"),
    durationMs: 12.345,
    ...overrides,
  };
}

describe("lib/audit isAudited", () => {
  it("audits POST, PUT, PATCH and DELETE in any case, and not reads", () => {
    expect(["POST", "put", "Patch", "DELETE"].map(isAudited)).toEqual([true, true, true, true]);
    expect(["GET", "HEAD", "OPTIONS", undefined].map(isAudited)).toEqual([false, false, false, false]);
  });
});

describe("lib/audit auditEntry", () => {
  it("says who, what, which object, the result and when", () => {
    const entry = auditEntry(
      input({
        userID: "alice",
        roles: ["admin"],
        action: "v1.k8s.deployments.update",
        method: "patch",
        url: "/api/v1/k8s/deployments/d-1?dryRun=true",
        params: { id: "d-1", replicas: 3, image: "nginx:1.27" },
        status: 200,
        requestID: "req-1",
      }),
    );
    expect(entry).toEqual({
      audit: "change",
      time: "2026-11-26T20:00:00.000Z",
      userID: "alice",
      roles: ["admin"],
      action: "v1.k8s.deployments.update",
      method: "PATCH",
      path: "/api/v1/k8s/deployments/d-1",
      object: { id: "d-1", replicas: 3, image: "nginx:1.27" },
      status: 200,
      durationMs: 12.3,
      requestID: "req-1",
    });
    expect(JSON.parse(JSON.stringify(entry))).toEqual(entry);
  });

  it("takes the id a create assigned from the result, and what the caller named from the params", () => {
    const entry = auditEntry(
      input({
        params: { name: "web", namespace: "team-a", env: [{ key: "A", value: SECRET }] },
        result: { id: "gen-42", name: "web-canonical", namespace: "team-a", owner: "alice", status: "Pending" },
      }),
    );
    expect(entry.object).toEqual({ id: "gen-42", name: "web", namespace: "team-a" });
  });

  it("records failures with their status and no result", () => {
    const entry = auditEntry(input({ params: { id: "nope" }, status: 404 }));
    expect(entry).toMatchObject({ object: { id: "nope" }, status: 404 });
    expect(auditEntry(input({ status: null })).status).toBeNull();
  });

  it("never carries a value, a body field outside the allow-list, or a nested object", () => {
    const entry = auditEntry(
      input({
        params: {
          key: "DB_PASSWORD",
          value: SECRET,
          secret: true,
          data: { password: SECRET },
          token: SECRET,
          name: { value: SECRET },
          namespace: [SECRET],
          revision: Number.NaN,
        },
        result: { id: "e-1", key: "DB_PASSWORD", value: "******", secretValue: SECRET },
      }),
    );
    expect(entry.object).toEqual({ id: "e-1", key: "DB_PASSWORD" });
    expect(JSON.stringify(entry)).not.toContain(SECRET);
  });

  it("cuts long strings short", () => {
    const entry = auditEntry(
      input({ userID: "u".repeat(5000), params: { name: "n".repeat(5000) }, url: `/api/${"p".repeat(5000)}` }),
    );
    expect(entry.userID.length).toBe(AUDIT_MAX_STRING + 1);
    expect(String(entry.object.name).length).toBe(AUDIT_MAX_STRING + 1);
    expect(entry.path.length).toBe(AUDIT_MAX_STRING + 1);
  });
});

describe("lib/audit identifyingFields", () => {
  it("keeps exactly the allow-listed scalar fields", () => {
    const all = Object.fromEntries(AUDIT_FIELDS.map((f) => [f, `${f}-v`]));
    expect(identifyingFields({ ...all, value: SECRET, extra: 1 })).toEqual(all);
    expect(AUDIT_FIELDS).not.toContain("value");
  });

  it("ignores inherited fields, arrays and non-objects", () => {
    const polluted = JSON.parse(`{"__proto__": {"id": "${SECRET}"}, "name": "ok"}`) as unknown;
    expect(identifyingFields(polluted)).toEqual({ name: "ok" });
    expect(identifyingFields(Object.create({ id: SECRET }))).toEqual({});
    expect(identifyingFields(["id"])).toEqual({});
    expect(identifyingFields(null)).toEqual({});
    expect(identifyingFields("id=1")).toEqual({});
  });
});

describe("lib/audit auditPath", () => {
  it("drops the query string and fragment", () => {
    expect(auditPath(`/api/v1/k8s/envs/e-1?value=${SECRET}`)).toBe("/api/v1/k8s/envs/e-1");
    expect(auditPath("/api/x#frag")).toBe("/api/x");
    expect(auditPath("/api/x")).toBe("/api/x");
  });
});
