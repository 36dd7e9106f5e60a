/**
 * The pure parts of v1.k8s.envs (services/envs.service.ts): secret generation, masking, the split into ConfigMap and
 * Secret, the checksum, and the guards against queries and sorts on `value`.
 */
import { describe, it, expect } from "@jest/globals";
import fc from "fast-check";
import { SECRET_MASK } from "../../lib/entities.ts";
import { isEmptyEnvObject, secretData, secretDataDigest } from "../../lib/manifests/env.ts";
import {
  checksumOf,
  envObjectsDrifted,
  envSizeProblem,
  MAX_ENV_OBJECT_BYTES,
  driftedKeys,
  generateSecret,
  maskEnv,
  queryMentions,
  renderEnvObjects,
  sortMentions,
  splitValues,
  surplusKeys,
  type DeploymentRef,
  type EnvValues,
} from "../../services/envs.service.ts";

const ref: DeploymentRef = { id: "dep1", name: "web", namespace: "ns1", namespaceName: "shop" };
const records: EnvValues[] = [
  { key: "MODE", type: "plain", value: "prod" },
  { key: "PASSWORD", type: "secret", value: "hunter2-long" },
];

describe("generateSecret", () => {
  it("gives 24 random bytes as 32 base64url characters, different each time", () => {
    const values = new Set(Array.from({ length: 200 }, generateSecret));
    expect(values.size).toBe(200);
    for (const v of values) {
      expect(v).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(Buffer.from(v, "base64url")).toHaveLength(24);
    }
  });
});

describe("renderEnvObjects", () => {
  it("puts plain values in the ConfigMap and secret values only in the Secret", () => {
    const [cm, secret] = renderEnvObjects(ref, records);
    expect(cm).toMatchObject({
      kind: "ConfigMap",
      metadata: { name: "web-env", namespace: "shop" },
      data: { MODE: "prod" },
    });
    expect(JSON.stringify(cm)).not.toContain("hunter2-long");
    expect(secret).toMatchObject({ kind: "Secret", type: "Opaque", metadata: { name: "web-env", namespace: "shop" } });
    expect(Object.keys(secret.data ?? {})).toEqual(["PASSWORD"]);
    expect(Buffer.from(secret.data?.PASSWORD ?? "", "base64").toString()).toBe("hunter2-long");
    expect(cm.metadata?.annotations?.["moleculer-k8s/id"]).toBe("dep1");
  });

  it("renders no envs as an empty ConfigMap and an empty Secret, which are not applied (isEmptyEnvObject)", () => {
    const [cm, secret] = renderEnvObjects(ref, []);
    expect(cm.data).toEqual({});
    expect(secret.data).toEqual({});
    expect([isEmptyEnvObject(cm), isEmptyEnvObject(secret)]).toEqual([true, true]);
  });

  it("tells each object apart: only plain values leave the Secret empty, only secret ones the ConfigMap", () => {
    const [cm, secret] = renderEnvObjects(ref, [{ key: "MODE", type: "plain", value: "" }]);
    // An empty string is a value: the variable is set to "" in the pods.
    expect([isEmptyEnvObject(cm), isEmptyEnvObject(secret)]).toEqual([false, true]);
    const [cm2, secret2] = renderEnvObjects(ref, [{ key: "PASSWORD", type: "secret", value: "x" }]);
    expect([isEmptyEnvObject(cm2), isEmptyEnvObject(secret2)]).toEqual([true, false]);
  });
});

describe("splitValues and checksumOf", () => {
  it("lets a later record of a key win, also across types", () => {
    expect(splitValues([...records, { key: "MODE", type: "secret", value: "x" }])).toEqual({
      plain: {},
      secret: { MODE: "x", PASSWORD: "hunter2-long" },
    });
  });

  it("does not depend on record order, and changes with any value or type", () => {
    const sum = checksumOf(records);
    expect(checksumOf([...records].reverse())).toBe(sum);
    expect(checksumOf([records[0] as EnvValues, { key: "PASSWORD", type: "secret", value: "other" }])).not.toBe(sum);
    expect(checksumOf([records[0] as EnvValues, { key: "PASSWORD", type: "plain", value: "hunter2-long" }])).not.toBe(
      sum,
    );
    expect(checksumOf([])).toMatch(/^[a-f0-9]{64}$/);
  });
});

describe("maskEnv", () => {
  it("masks a secret's value and leaves a plain one", () => {
    expect(maskEnv({ id: "1", key: "P", type: "secret", value: "v" })).toEqual({
      id: "1",
      key: "P",
      type: "secret",
      value: SECRET_MASK,
    });
    expect(maskEnv({ id: "2", key: "M", type: "plain", value: "v" }).value).toBe("v");
  });

  it("masks a value projected without its type, and never returns a secret's value", () => {
    expect(maskEnv({ value: "v" }).value).toBe(SECRET_MASK);
    fc.assert(
      fc.property(fc.string(), fc.dictionary(fc.string(), fc.string()), (value, extra) => {
        const out = maskEnv({ ...extra, type: "secret", value });
        return out.value === SECRET_MASK;
      }),
    );
  });
});

describe("queryMentions and sortMentions", () => {
  it.each([
    [{ value: "x" }, true],
    [{ "value.length": 3 }, true],
    [{ $or: [{ key: "A" }, { value: { $regex: "^a" } }] }, true],
    [{ $and: [{ namespace: { $in: ["a"] } }, { $not: { value: "x" } }] }, true],
    [{ $expr: { $eq: ["$value", "x"] } }, true],
    [{ key: "value" }, false],
    [{ deployment: "d", key: { $in: ["value", "VALUE"] } }, false],
    [undefined, false],
  ])("query %j mentions value: %s", (query, expected) => {
    expect(queryMentions(query, "value")).toBe(expected);
  });

  it.each([
    ["value", true],
    ["-value", true],
    ["key value", true],
    ["key,-value", true],
    ["key -createdAt", false],
    ["values", false],
    [undefined, false],
  ])("sort %j sorts by value: %s", (sort, expected) => {
    expect(sortMentions(sort, "value")).toBe(expected);
  });
});

describe("driftedKeys", () => {
  it("names our keys the object lacks or holds differently, ignoring keys others added", () => {
    expect(driftedKeys({ A: "1", B: "2" }, { A: "1", B: "3", C: "x" })).toEqual(["B"]);
    expect(driftedKeys({ A: "1" }, undefined)).toEqual(["A"]);
    expect(driftedKeys({}, { C: "x" })).toEqual([]);
  });
});

describe("envSizeProblem", () => {
  const plain = (key: string, value: string) => ({ key, type: "plain" as const, value });
  const secret = (key: string, value: string) => ({ key, type: "secret" as const, value });

  it("takes plain values and secret values up to 1 MiB each, counted in UTF-8 bytes without the keys", () => {
    const half = "x".repeat(MAX_ENV_OBJECT_BYTES / 2);
    expect(envSizeProblem([plain("A", half), plain("B", half), secret("C", half), secret("D", half)])).toBeUndefined();
    expect(envSizeProblem([plain("A", half), plain("B", `${half.slice(1)}é`)])).toBe(
      "would hold 1048577 bytes of plain values (its ConfigMap), more than the 1048576 the cluster takes",
    );
    expect(envSizeProblem([secret("A", half), secret("B", `${half}!`)])).toMatch(/^would hold 1048577 bytes of secret/);
  });

  it("counts a key once: the later record with it wins, as in the objects", () => {
    const full = "x".repeat(MAX_ENV_OBJECT_BYTES);
    expect(envSizeProblem([plain("A", full), plain("A", "y")])).toBeUndefined();
    expect(envSizeProblem([plain("A", "y"), plain("A", `${full}!`)])).toMatch(/1048577 bytes of plain/);
  });
});

describe("envObjectsDrifted", () => {
  const cm = (data: Record<string, string>) => ({ kind: "ConfigMap", metadata: { name: "web-env" }, data });
  const secret = { kind: "Secret", metadata: { name: "web-env" } };
  const objects = (...list: { kind: string }[]) => new Map(list.map((o) => [`${o.kind}/web-env`, o]));

  it("is in line when each map with values has its object (the ConfigMap with those values) and no empty one has", () => {
    expect(
      envObjectsDrifted("web-env", { plain: { A: "1" }, secret: { S: "x" } }, objects(cm({ A: "1" }), secret)),
    ).toBe(false);
    expect(envObjectsDrifted("web-env", { plain: {}, secret: {} }, objects())).toBe(false);
  });

  it("has drifted when an object is missing, holds other plain values, or is there for an empty map", () => {
    expect(envObjectsDrifted("web-env", { plain: { A: "1" }, secret: {} }, objects())).toBe(true);
    expect(envObjectsDrifted("web-env", { plain: { A: "1" }, secret: {} }, objects(cm({ A: "2" })))).toBe(true);
    expect(envObjectsDrifted("web-env", { plain: {}, secret: { S: "x" } }, objects())).toBe(true);
    expect(envObjectsDrifted("web-env", { plain: {}, secret: {} }, objects(secret))).toBe(true);
    expect(envObjectsDrifted("web-env", { plain: {}, secret: {} }, objects(cm({})))).toBe(true);
  });

  it("has drifted when a key was added, or the Secret's data (by the cache's digest) differs", () => {
    const cachedSecret = (data: Record<string, string>) => ({
      kind: "Secret",
      metadata: {
        name: "web-env",
        annotations: {
          "moleculer-k8s/cached-data-keys": Object.keys(data).sort().join(","),
          "moleculer-k8s/cached-data-digest": secretDataDigest(secretData(data)),
        },
      },
    });
    const values = { plain: { A: "1" }, secret: { S: "x" } };
    expect(envObjectsDrifted("web-env", values, objects(cm({ A: "1" }), cachedSecret({ S: "x" })))).toBe(false);
    expect(
      envObjectsDrifted("web-env", values, objects(cm({ A: "1", LD_PRELOAD: "/x" }), cachedSecret({ S: "x" }))),
    ).toBe(true);
    expect(envObjectsDrifted("web-env", values, objects(cm({ A: "1" }), cachedSecret({ S: "tampered" })))).toBe(true);
    expect(envObjectsDrifted("web-env", values, objects(cm({ A: "1" }), cachedSecret({ S: "x", EXTRA: "y" })))).toBe(
      true,
    );
    expect(surplusKeys({ S: "x" }, cachedSecret({ S: "x", EXTRA: "y", Z: "" }))).toEqual(["EXTRA", "Z"]);
    expect(surplusKeys({ A: "1" }, cm({ A: "1", B: "2" }))).toEqual(["B"]);
    expect(surplusKeys({ A: "1" }, undefined)).toEqual([]);
  });
});
