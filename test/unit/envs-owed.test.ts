/**
 * `envsOwed` and `isInterruptedCreate` (services/deployments.service.ts): which stored deployment records a resync
 * gets their image's envs made for before applying them. Only those: any other record's envs may have been removed on
 * purpose. The recovery itself: test/integration/operations/interrupted-create.test.ts and image-envs.test.ts.
 */
import { describe, expect, it } from "@jest/globals";
import { envsOwed, isInterruptedCreate } from "../../services/deployments.service.ts";

const stored = (status: unknown, revisions?: unknown): Record<string, unknown> & { _id: string } => ({
  _id: "d1",
  name: "web",
  namespace: "ns1",
  image: "img1",
  revision: 1,
  ...(status === undefined ? {} : { status }),
  ...(revisions === undefined ? {} : { revisions }),
});
const applying = { phase: "Pending", reason: "Applying", message: "not yet applied to the cluster" };
const aRevision = [{ revision: 1, spec: {}, changes: ["created"], at: "2026-11-27T00:00:00.000Z" }];

describe("isInterruptedCreate", () => {
  it("is a record in the create's Pending / Applying status without any revision", () => {
    expect(isInterruptedCreate(stored(applying))).toBe(true);
    expect(isInterruptedCreate(stored(applying, []))).toBe(true);
    // a revisions field that is not a list holds no revision
    expect(isInterruptedCreate(stored(applying, "garbage"))).toBe(true);
  });

  it("is not a record that holds a revision (its first apply stored it)", () => {
    expect(isInterruptedCreate(stored(applying, aRevision))).toBe(false);
  });

  it("is not a record Pending for another reason, or in another phase", () => {
    for (const reason of ["ClusterUnavailable", "NamespaceNotReady", "NotApplied", "Applied", undefined]) {
      expect(isInterruptedCreate(stored({ ...applying, reason }))).toBe(false);
    }
    for (const phase of ["Progressing", "Available", "Failed", undefined]) {
      expect(isInterruptedCreate(stored({ ...applying, phase }))).toBe(false);
    }
  });

  it("is not a record without a status", () => {
    expect(isInterruptedCreate(stored(undefined))).toBe(false);
    expect(isInterruptedCreate(stored(null))).toBe(false);
  });
});

describe("envsOwed", () => {
  const withEnvsFrom = (envsFrom: unknown, status: unknown = applying, revisions?: unknown) => ({
    ...stored(status, revisions),
    envsFrom,
  });
  const applied = { phase: "Available", reason: "MinimumReplicasAvailable" };

  it("owes them while envsFrom is null (a create before its first apply, a change of image before its reconcile)", () => {
    expect(envsOwed(withEnvsFrom(null))).toBe(true);
    expect(envsOwed(withEnvsFrom(null, applied, aRevision))).toBe(true);
  });

  it("owes them when they were made from another image, not when from this one", () => {
    expect(envsOwed(withEnvsFrom("img0", applied, aRevision))).toBe(true);
    expect(envsOwed(withEnvsFrom("img1", applied, aRevision))).toBe(false);
    // whatever the status says: made is made
    expect(envsOwed(withEnvsFrom("img1"))).toBe(false);
  });

  it("for a record stored before the field: only a create cut short owes them", () => {
    expect(envsOwed(stored(applying))).toBe(true);
    expect(envsOwed(stored(applying, aRevision))).toBe(false);
    expect(envsOwed(stored(applied, aRevision))).toBe(false);
    expect(envsOwed(stored({ ...applying, reason: "ClusterUnavailable" }))).toBe(false);
  });
});
