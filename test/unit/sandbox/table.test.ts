import { describe, it, expect } from "@jest/globals";
import { toTable, wantsTable } from "../../../lib/sandbox/http/table.ts";
import { humanDuration } from "../../../lib/sandbox/http/util.ts";
import { RESOURCE_TYPES, type KubeObject, type ResourceType } from "../../../lib/sandbox/types.ts";

const rt = (key: string): ResourceType => RESOURCE_TYPES.find((t) => t.key === key) as ResourceType;

describe("sandbox server-side printing", () => {
  it("prints ages as kubectl does", () => {
    expect(humanDuration(5_000)).toBe("5s");
    expect(humanDuration(119_000)).toBe("119s");
    expect(humanDuration(150_000)).toBe("2m30s");
    expect(humanDuration(45 * 60_000)).toBe("45m");
    expect(humanDuration(5 * 3600_000 + 7 * 60_000)).toBe("5h7m");
    expect(humanDuration(30 * 3600_000)).toBe("30h");
    expect(humanDuration(3 * 86400_000 + 2 * 3600_000)).toBe("3d2h");
    expect(humanDuration(40 * 86400_000)).toBe("40d");
  });

  it("recognizes the Accept header of kubectl get", () => {
    expect(
      wantsTable(
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
      ),
    ).toBe(true);
    expect(wantsTable("application/json")).toBe(false);
  });

  it("prints pods with READY, STATUS (waiting reasons first) and RESTARTS", () => {
    const pod: KubeObject = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web-1", namespace: "default", creationTimestamp: new Date(Date.now() - 60_000).toISOString() },
      spec: { containers: [{ name: "a" }, { name: "b" }], nodeName: "n1" },
      status: {
        phase: "Pending",
        podIP: "10.0.0.1",
        containerStatuses: [
          { name: "a", ready: true, restartCount: 2, state: { running: {} } },
          { name: "b", ready: false, restartCount: 1, state: { waiting: { reason: "ImagePullBackOff" } } },
        ],
      },
    };
    const table = toTable(rt("pods"), [pod], { resourceVersion: "7" }, null) as {
      columnDefinitions: { name: string; priority: number }[];
      rows: { cells: unknown[]; object: { kind: string } }[];
    };
    expect(table.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name)).toEqual([
      "Name",
      "Ready",
      "Status",
      "Restarts",
      "Age",
    ]);
    expect(table.rows[0]?.cells.slice(0, 4)).toEqual(["web-1", "1/2", "ImagePullBackOff", "3"]);
    expect(table.rows[0]?.cells[5]).toBe("10.0.0.1");
    expect(table.rows[0]?.object.kind).toBe("PartialObjectMetadata");
  });
});
