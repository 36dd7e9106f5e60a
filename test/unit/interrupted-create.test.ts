/**
 * `isInterruptedCreate` (services/deployments.service.ts): which stored deployment records a resync treats as a create
 * that stopped before its first apply, and so gets its image's envs made before applying. Only those: any other
 * record's envs may have been removed on purpose. The recovery itself: test/integration/operations/interrupted-create.test.ts.
 */
import { describe, expect, it } from "@jest/globals";
import { isInterruptedCreate } from "../../services/deployments.service.ts";

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
