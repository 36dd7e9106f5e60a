import { describe, expect, it } from "@jest/globals";
import { cpuQuantity, memoryQuantity, storageQuantity } from "../../../lib/manifests/quantity.ts";
import { isValidStorageSize, parseQuantity, renderPersistentVolumeClaim } from "../../../lib/manifests/volume.ts";
import { deepFreeze, expectWellFormed } from "./fixtures.ts";

describe("lib/manifests/volume renderPersistentVolumeClaim", () => {
  it("renders the whole PVC: ReadWriteOnce by default, no storageClassName so the cluster default applies", () => {
    const pvc = renderPersistentVolumeClaim({
      id: "v1",
      namespace: "shop",
      name: "my-app-nginx-php-data",
      size: "1Gi",
    });
    expect(pvc).toEqual({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: {
        name: "my-app-nginx-php-data",
        namespace: "shop",
        labels: {
          "app.kubernetes.io/managed-by": "moleculer-k8s",
          "app.kubernetes.io/part-of": "moleculer-k8s",
          "app.kubernetes.io/name": "my-app-nginx-php-data",
          "app.kubernetes.io/instance": "my-app-nginx-php-data",
          "app.kubernetes.io/component": "volume",
          "moleculer-k8s/id": "v1",
        },
        annotations: { "moleculer-k8s/id": "v1" },
      },
      spec: {
        accessModes: ["ReadWriteOnce"],
        volumeMode: "Filesystem",
        resources: { requests: { storage: "1Gi" } },
      },
    });
    expect(pvc.spec).not.toHaveProperty("storageClassName");
    expectWellFormed(pvc);
  });

  it("sets the storage class and access modes when given, and defaults the size to 1Gi", () => {
    const input = deepFreeze({
      id: "v1",
      namespace: "shop",
      name: "data",
      storageClass: "fast",
      accessModes: ["ReadWriteMany"] as const,
    });
    const pvc = renderPersistentVolumeClaim(input);
    expect(pvc.spec).toEqual({
      accessModes: ["ReadWriteMany"],
      volumeMode: "Filesystem",
      resources: { requests: { storage: "1Gi" } },
      storageClassName: "fast",
    });
    expect(renderPersistentVolumeClaim(input)).toEqual(pvc);
    expect(
      renderPersistentVolumeClaim({ id: "v", namespace: "s", name: "d", accessModes: [] }).spec?.accessModes,
    ).toEqual(["ReadWriteOnce"]);
  });
});

describe("lib/manifests/volume parseQuantity and isValidStorageSize", () => {
  it("parses binary, decimal and exponent quantities", () => {
    expect(parseQuantity("1Gi")).toBe(1024 ** 3);
    expect(parseQuantity("500Mi")).toBe(500 * 1024 ** 2);
    expect(parseQuantity("1.5Gi")).toBe(1.5 * 1024 ** 3);
    expect(parseQuantity("10G")).toBe(10e9);
    expect(parseQuantity("100m")).toBeCloseTo(0.1);
    expect(parseQuantity("1e3")).toBe(1000);
    expect(parseQuantity("1024")).toBe(1024);
    expect(parseQuantity("-1Gi")).toBe(-(1024 ** 3));
    expect(parseQuantity("lots")).toBeUndefined();
    expect(parseQuantity("1 Gi")).toBeUndefined();
    expect(parseQuantity("1GB")).toBeUndefined();
    expect(parseQuantity("")).toBeUndefined();
  });

  it("accepts sizes like 1Gi and 500Mi, rejects -1Gi, lots, 0 and fractions of a byte", () => {
    for (const ok of ["1Gi", "500Mi", "10G", "1Ti", "1073741824", "1.5Gi"])
      expect([ok, isValidStorageSize(ok)]).toEqual([ok, true]);
    for (const bad of ["-1Gi", "lots", "0", "0Gi", "500m", "", "Gi", "1.5"]) {
      expect([bad, isValidStorageSize(bad)]).toEqual([bad, false]);
    }
  });
});

describe("lib/manifests/quantity formatting", () => {
  it("formats the suite's units in the API server's canonical form", () => {
    expect([cpuQuantity(500), cpuQuantity(1000), cpuQuantity(1500), cpuQuantity(0), cpuQuantity(2000)]).toEqual([
      "500m",
      "1",
      "1500m",
      "0",
      "2",
    ]);
    expect([
      memoryQuantity(512),
      memoryQuantity(500),
      memoryQuantity(1024),
      memoryQuantity(1536),
      memoryQuantity(0),
    ]).toEqual(["512Mi", "500Mi", "1Gi", "1536Mi", "0"]);
    expect([storageQuantity(10), storageQuantity(1024), storageQuantity(1)]).toEqual(["10Gi", "1Ti", "1Gi"]);
  });

  it("formats values that parse back to the same amount", () => {
    for (const n of [1, 7, 500, 1000, 1024, 4096, 123456]) {
      expect(parseQuantity(memoryQuantity(n))).toBe(n * 1024 ** 2);
      expect(parseQuantity(storageQuantity(n))).toBe(n * 1024 ** 3);
      expect(parseQuantity(cpuQuantity(n))).toBeCloseTo(n / 1000);
    }
  });
});
