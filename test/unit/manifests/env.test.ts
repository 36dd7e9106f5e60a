import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import {
  canonicalJson,
  envChecksum,
  envObjectName,
  renderEnvConfigMap,
  renderEnvSecret,
} from "../../../lib/manifests/env.ts";
import { getIdFromAnnotation } from "../../../lib/manifests/labels.ts";
import { deepFreeze, expectWellFormed } from "./fixtures.ts";

const METADATA = {
  name: "my-app-php-env",
  namespace: "shop",
  labels: {
    "app.kubernetes.io/managed-by": "moleculer-k8s",
    "app.kubernetes.io/part-of": "moleculer-k8s",
    "app.kubernetes.io/name": "my-app-php",
    "app.kubernetes.io/instance": "my-app-php",
    "app.kubernetes.io/component": "env",
    "moleculer-k8s/id": "dep1",
  },
  annotations: { "moleculer-k8s/id": "dep1" },
};

describe("lib/manifests/env renderEnvConfigMap", () => {
  it("renders the whole ConfigMap <deployment>-env with the plain values, keys sorted", () => {
    const cm = renderEnvConfigMap({
      deploymentId: "dep1",
      deploymentName: "my-app-php",
      namespace: "shop",
      plain: { Z_LAST: "z", APP_ENV: "production" },
    });
    expect(cm).toEqual({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: METADATA,
      data: { APP_ENV: "production", Z_LAST: "z" },
    });
    expect(Object.keys(cm.data ?? {})).toEqual(["APP_ENV", "Z_LAST"]);
    expect(envObjectName("my-app-php")).toBe("my-app-php-env");
    expect(getIdFromAnnotation(cm)).toBe("dep1");
    expectWellFormed(cm);
  });
});

describe("lib/manifests/env renderEnvSecret", () => {
  it("renders the whole Opaque Secret <deployment>-env with base64 data (not stringData)", () => {
    const secret = renderEnvSecret({
      deploymentId: "dep1",
      deploymentName: "my-app-php",
      namespace: "shop",
      secret: { PHP_ROOT_PASSWORD: "s3cret", UNICODE: "päss wört" },
    });
    expect(secret).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: METADATA,
      type: "Opaque",
      data: { PHP_ROOT_PASSWORD: "czNjcmV0", UNICODE: Buffer.from("päss wört").toString("base64") },
    });
    expect(secret).not.toHaveProperty("stringData");
    expect(Buffer.from(secret.data?.UNICODE ?? "", "base64").toString("utf8")).toBe("päss wört");
    expectWellFormed(secret);
  });

  it("never writes a secret value in clear text", () => {
    const secret = renderEnvSecret({
      deploymentId: "d",
      deploymentName: "a",
      namespace: "s",
      secret: { K: "plain-text-secret" },
    });
    expect(JSON.stringify(secret)).not.toContain("plain-text-secret");
  });

  it("is pure: a frozen input renders twice to equal objects", () => {
    const input = deepFreeze({
      deploymentId: "d",
      deploymentName: "a",
      namespace: "s",
      secret: { B: "2", A: "1" },
      plain: { X: "y" },
    });
    expect(renderEnvSecret(input)).toEqual(renderEnvSecret(input));
    expect(renderEnvConfigMap(input)).toEqual(renderEnvConfigMap(input));
  });
});

describe("lib/manifests/env envChecksum", () => {
  it("is a sha256 hex that does not depend on key order", () => {
    const a = envChecksum({ A: "1", B: "2" }, { S: "x" });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(envChecksum({ B: "2", A: "1" }, { S: "x" })).toBe(a);
  });

  it("changes when a value, a key, or a value's kind (plain vs secret) changes", () => {
    const base = envChecksum({ A: "1" }, { S: "x" });
    expect(envChecksum({ A: "2" }, { S: "x" })).not.toBe(base);
    expect(envChecksum({ A: "1" }, { S: "y" })).not.toBe(base);
    expect(envChecksum({ A: "1", B: "" }, { S: "x" })).not.toBe(base);
    expect(envChecksum({ A: "1", S: "x" }, {})).not.toBe(base);
    expect(envChecksum({}, {})).not.toBe(base);
  });

  it("equal maps give equal checksums, different maps different ones (property)", () => {
    const env = fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), fc.string({ maxLength: 20 }));
    fc.assert(
      fc.property(env, env, env, env, (p1, s1, p2, s2) => {
        const same = canonicalJson({ p1, s1 }) === canonicalJson({ p1: p2, s1: s2 });
        expect(envChecksum(p1, s1) === envChecksum(p2, s2)).toBe(same);
        expect(envChecksum({ ...p1 }, { ...s1 })).toBe(envChecksum(p1, s1));
      }),
    );
  });
});

/** The first canonicalJson, written the plain way: the oracle of the property below. */
function canonicalJsonOracle(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJsonOracle(item)).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJsonOracle(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

describe("lib/manifests/env canonicalJson", () => {
  it("sorts keys at every level and drops undefined members", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 0 }], c: undefined } })).toBe(
      '{"a":{"d":[2,{"x":0,"y":1}]},"b":1}',
    );
    expect(canonicalJson({ "\u00e9": 1, Z: 2, a: 3, "": [undefined, null, 'x"y'] })).toBe(
      '{"":[null,null,"x\\"y"],"Z":2,"a":3,"\u00e9":1}',
    );
  });

  it("is JSON that parses back to the value, whatever the key order (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(text).toBe(canonicalJsonOracle(value));
      }),
    );
  });

  it("writes the same text for the same members in any order, undefined members included (property)", () => {
    const member = fc.oneof(fc.jsonValue(), fc.constant(undefined));
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 6 }), member, { maxKeys: 8 }), (record) => {
        const reversed = Object.fromEntries(Object.entries(record).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(record));
        expect(canonicalJson({ nested: [record] })).toBe(canonicalJsonOracle({ nested: [reversed] }));
      }),
    );
  });
});
