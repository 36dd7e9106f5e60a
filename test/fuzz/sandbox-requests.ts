/**
 * The requests the sandbox fuzz test sends (test/fuzz/sandbox.fuzz.test.ts): malformed objects, patches of each
 * content type, and reads and watches with garbage parameters, as fast-check arbitraries.
 */
import fc from "fast-check";
import type { RawRequest } from "./http.ts";
import { DEPTH, edgeNumber, encodeAny, nastyString, objectWith, toJsonText, wrongValue } from "./arbitraries.ts";

let token = "";
/** The bearer token the generated requests carry. */
export function setToken(value: string): void {
  token = value;
}

export interface Sent extends RawRequest {
  kind: string;
}

export const NS = "fz";

export const anchors = {
  configmap: {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "anchor", labels: { app: "anchor", tier: "a" } },
    data: { "a.conf": "x=1", "b.conf": "y=2" },
  },
  secret: {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "anchor-secret" },
    type: "Opaque",
    data: { password: Buffer.from("hunter2").toString("base64") },
  },
  deployment: {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "anchor-dep", labels: { app: "anchor" } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "anchor" } },
      template: {
        metadata: { labels: { app: "anchor" } },
        spec: { containers: [{ name: "c", image: "nginx:1.27", ports: [{ containerPort: 80 }] }] },
      },
    },
  },
};

/** The fuzz targets (patched, replaced, deleted and re-created freely), and the collections they live in. */
export const collections = [
  { path: `/api/v1/namespaces/${NS}/configmaps`, apiVersion: "v1", kind: "ConfigMap", target: "target-cm" },
  { path: `/api/v1/namespaces/${NS}/secrets`, apiVersion: "v1", kind: "Secret", target: "target-secret" },
  { path: `/api/v1/namespaces/${NS}/services`, apiVersion: "v1", kind: "Service", target: "target-svc" },
  { path: `/api/v1/namespaces/${NS}/pods`, apiVersion: "v1", kind: "Pod", target: "target-pod" },
  {
    path: `/api/v1/namespaces/${NS}/persistentvolumeclaims`,
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    target: "target-pvc",
  },
  {
    path: `/apis/apps/v1/namespaces/${NS}/deployments`,
    apiVersion: "apps/v1",
    kind: "Deployment",
    target: "target-dep",
  },
  {
    path: `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses`,
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    target: "target-ing",
  },
  { path: `/apis/batch/v1/namespaces/${NS}/jobs`, apiVersion: "batch/v1", kind: "Job", target: "target-job" },
  { path: `/api/v1/namespaces/${NS}/resourcequotas`, apiVersion: "v1", kind: "ResourceQuota", target: "target-rq" },
  { path: "/api/v1/namespaces", apiVersion: "v1", kind: "Namespace", target: "target-ns" },
] as const;
export type Collection = (typeof collections)[number];

const collection = fc.constantFrom(...collections);

/** Names Kubernetes refuses, and some it takes. */
const objectName = fc.oneof(
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/) },
  {
    weight: 3,
    arbitrary: fc.oneof(
      nastyString,
      fc.constantFrom(
        "UPPER",
        "a".repeat(254),
        "a".repeat(64),
        "..",
        ".",
        "a/b",
        "a%2Fb",
        "-a",
        "a-",
        "a_b",
        "a.b",
        "",
      ),
    ),
  },
  { weight: 1, arbitrary: wrongValue },
);

const hugeLabels = fc.constantFrom<unknown>(
  Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, `v${i}`])),
  { big: "v".repeat(100_000) },
  { ["k".repeat(400)]: "v" },
  { "a/b/c": "v", "-bad": "v", "": "v", x: "bad value!" },
  objectWith([
    ["__proto__", "yes"],
    ["constructor", "yes"],
  ]),
  { ok: "\u202Eevil\u0000" },
);

const hugeAnnotations = fc.constantFrom<unknown>(
  { note: "n".repeat(300_000) },
  Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`example.com/a${i}`, "x".repeat(50)])),
);

const metadata = fc.oneof(
  fc.record(
    {
      name: objectName,
      generateName: fc.oneof(fc.constant("gen-"), nastyString),
      namespace: fc.oneof(fc.constant(NS), fc.constant("other"), nastyString),
      labels: fc.oneof(
        fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })),
        hugeLabels,
        wrongValue,
      ),
      annotations: fc.oneof(hugeAnnotations, wrongValue, fc.dictionary(nastyString, nastyString)),
      resourceVersion: fc.oneof(fc.constantFrom("1", "0", "-1", "abc", "99999999999999999999"), wrongValue),
      uid: fc.oneof(fc.uuid(), wrongValue),
      finalizers: fc.oneof(fc.array(nastyString, { maxLength: 3 }), wrongValue),
      ownerReferences: fc.oneof(fc.jsonValue({ maxDepth: 3 }), wrongValue),
      deletionTimestamp: fc.oneof(fc.constant("2020-01-01T00:00:00Z"), wrongValue),
      managedFields: fc.oneof(fc.jsonValue({ maxDepth: 3 }), wrongValue),
    },
    { requiredKeys: [] },
  ),
  wrongValue,
);

/** A value for a field the server looks into (spec, data, ports, replicas, ...). */
const fieldValue = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: wrongValue },
  { weight: 1, arbitrary: edgeNumber },
);

function objectFor(c: Collection): fc.Arbitrary<unknown> {
  return fc.record(
    {
      apiVersion: fc.oneof(
        { weight: 4, arbitrary: fc.constant(c.apiVersion) },
        { weight: 1, arbitrary: fc.oneof(fc.constantFrom("v1", "apps/v1", "v2", "", "apps/v1/x"), wrongValue) },
      ),
      kind: fc.oneof(
        { weight: 4, arbitrary: fc.constant(c.kind) },
        { weight: 1, arbitrary: fc.oneof(fc.constantFrom("Pod", "ConfigMap", "Nope", "", "configmap"), wrongValue) },
      ),
      metadata,
      spec: fc.oneof(
        fc.record(
          {
            replicas: fieldValue,
            selector: fieldValue,
            template: fc.oneof(
              fieldValue,
              fc.record({ metadata: fieldValue, spec: fc.record({ containers: fieldValue }, { requiredKeys: [] }) }),
            ),
            ports: fieldValue,
            rules: fieldValue,
            resources: fieldValue,
            hard: fieldValue,
            accessModes: fieldValue,
            type: fieldValue,
            containers: fieldValue,
          },
          { requiredKeys: [] },
        ),
        fieldValue,
      ),
      data: fc.oneof(fc.dictionary(nastyString, nastyString), fieldValue),
      stringData: fieldValue,
      binaryData: fieldValue,
      type: fieldValue,
      status: fieldValue,
    },
    { requiredKeys: [] },
  );
}

const deepYaml = `${"- ".repeat(1)}${"[".repeat(DEPTH)}1${"]".repeat(DEPTH)}`;
const aliasBomb = [
  "a: &a [x, x, x, x, x, x, x, x, x, x]",
  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
  "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
  "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]",
  "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]",
  "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]",
  "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]",
].join("\n");

function applyYaml(c: Collection, name: string): fc.Arbitrary<string> {
  const head = `apiVersion: ${c.apiVersion}\nkind: ${c.kind}\nmetadata:\n  name: ${name}\n`;
  return fc.oneof(
    fc.constantFrom(
      `${head}${aliasBomb}\n`,
      `${head}data: &x\n  k: v\nspec: *x\n`,
      `${head}data:\n  <<: *missing\n`,
      `${head}data: {a: 1, a: 2}\n`,
      `${head}data: !!js/function "function () {}"\n`,
      `${head}data: !!binary aGVsbG8=\n`,
      `${head}data: !custom x\n`,
      `${head}spec: ${deepYaml}\n`,
      `${head}data:\n\tk: v\n`,
      `${head}data: "unclosed\n`,
      `${head}---\nkind: Other\n`,
      "---\n---\n",
      "",
      "null",
      "[1, 2, 3]",
      "just a string",
      "{",
      `${head}metadata: {name: other}\n`,
      `apiVersion: ${c.apiVersion}\nkind: ${c.kind}\n`,
      `${head}data:\n  k: ${"v".repeat(2_000_000)}\n`,
      `${head}spec:\n  replicas: .inf\n`,
      `${head}spec:\n  replicas: 0x7fffffffffffffff\n`,
      `${head}spec:\n  replicas: 1e400\n`,
      `${head}spec:\n  replicas: -0\n`,
      `${head}data:\n  __proto__: {polluted: yes}\n  constructor: {prototype: {polluted: yes}}\n`,
      `${head}? [complex, key]\n: value\n`,
      `${head}data: \u0000\n`,
      `${head}data: "\\uD800"\n`,
    ),
    objectFor(c).map((o) => toJsonText(o)),
  );
}

const jsonPatchOp = fc.oneof(
  fc.record(
    {
      op: fc.oneof(fc.constantFrom("add", "remove", "replace", "move", "copy", "test"), nastyString, wrongValue),
      path: fc.oneof(
        fc.constantFrom(
          "/metadata/labels/x",
          "/metadata/name",
          "/metadata/namespace",
          "/metadata/uid",
          "/metadata/resourceVersion",
          "/kind",
          "/apiVersion",
          "/data/k",
          "/spec/replicas",
          "/spec/template/spec/containers/0/image",
          "/spec/template/spec/containers/999",
          "/spec/template/spec/containers/-",
          "/spec/template/spec/containers/-1",
          "/__proto__/polluted",
          "/constructor/prototype/polluted",
          "/metadata/__proto__/polluted",
          "/metadata/labels/__proto__",
          "",
          "/",
          "~",
          "/a~2b",
          "/data/a~1b",
          `/${"a/".repeat(500)}x`,
          "no-leading-slash",
        ),
        nastyString,
        wrongValue,
      ),
      from: fc.oneof(fc.constantFrom("/metadata", "/data", "/spec", "/__proto__", "", "/nope"), wrongValue),
      value: fieldValue,
    },
    { requiredKeys: ["op"] },
  ),
  wrongValue,
);

function patchFor(c: Collection): fc.Arbitrary<{ type: string; body: string }> {
  const json = (type: string) => (v: unknown) => ({ type, body: toJsonText(v) });
  return fc.oneof(
    fc
      .oneof(
        fc.array(jsonPatchOp, { maxLength: 6 }),
        fc
          .constant(null)
          .map(() =>
            Array.from({ length: 10_000 }, (_, i) => ({ op: "add", path: `/metadata/labels/k${i}`, value: "v" })),
          ),
        wrongValue,
      )
      .map(json("application/json-patch+json")),
    fc.oneof(objectFor(c), wrongValue, fc.jsonValue({ maxDepth: 4 })).map(json("application/merge-patch+json")),
    fc
      .oneof(
        objectFor(c),
        wrongValue,
        fc.record(
          {
            $patch: fc.oneof(fc.constantFrom("delete", "replace", "merge", "bogus"), wrongValue),
            metadata: fc.oneof(
              fc.record({ labels: fc.record({ $patch: fc.constantFrom("delete", "replace", "bogus") }) }),
              wrongValue,
            ),
            spec: fc.oneof(
              fc.record(
                {
                  template: fc.record({
                    spec: fc.record(
                      {
                        containers: fc.oneof(
                          fc.constant([{ name: "c", $patch: "delete" }]),
                          fc.constant([{ $patch: "replace" }]),
                          fc.constant([{ name: { a: 1 } }]),
                          fc.constant([{ noName: true }]),
                          wrongValue,
                        ),
                        $setElementOrder: fc.oneof(fc.constant({ containers: [{ name: "zz" }] }), wrongValue),
                        "$setElementOrder/containers": fc.oneof(fc.constant([{ name: "zz" }, "x", 1]), wrongValue),
                        "$deleteFromPrimitiveList/finalizers": wrongValue,
                        $retainKeys: wrongValue,
                      },
                      { requiredKeys: [] },
                    ),
                  }),
                },
                { requiredKeys: [] },
              ),
              wrongValue,
            ),
          },
          { requiredKeys: [] },
        ),
      )
      .map(json("application/strategic-merge-patch+json")),
    applyYaml(c, c.target).map((body) => ({ type: "application/apply-patch+yaml", body })),
    // a body of one patch type sent as another, or as a type the server does not take
    fc
      .tuple(
        fc.jsonValue({ maxDepth: 3 }),
        fc.constantFrom("application/json", "text/plain", "application/yaml", "application/x-protobuf", "", "*/*"),
      )
      .map(([v, type]) => ({ type, body: toJsonText(v) })),
  );
}

const patchQuery = fc.oneof(
  fc.constant("?fieldManager=fuzz"),
  fc.constant("?fieldManager=fuzz&force=true"),
  fc.constant(""),
  fc
    .tuple(
      fc.constantFrom("fieldManager", "force", "dryRun", "fieldValidation", "resourceVersion"),
      fc.oneof(nastyString, fc.constantFrom("All", "Strict", "Ignore", "Warn", "true", "false", "x".repeat(200))),
    )
    .map(([k, v]) => `?fieldManager=fuzz&${k}=${encodeAny(v)}`),
);

const selectorGarbage = fc.oneof(
  fc.constantFrom(
    "a in (",
    "a notin (b,",
    "!!a",
    "a==",
    "==b",
    "a=b,,c=d",
    "a in (b) , ! c",
    "a=b=c",
    "a!=",
    "a>1",
    "a<b",
    "a gt 1",
    "a in ()",
    "(a)",
    "metadata.name=",
    "metadata.name==x,metadata.namespace!=y",
    "spec.nodeName=x",
    "status.phase=Running",
    "nope.field=x",
    "metadata.labels.app=x",
    "\u0000",
    "a=\uD800",
    Array.from({ length: 2000 }, (_, i) => `k${i}=v`).join(","),
    `${"a".repeat(5000)}=b`,
    `a in (${Array.from({ length: 1000 }, (_, i) => `v${i}`).join(",")})`,
  ),
  nastyString,
  fc.string({ maxLength: 30 }),
);

const versionGarbage = fc.oneof(
  fc.constantFrom("", "0", "1", "-1", "abc", "1.5", "1e308", "99999999999999999999999", "NaN", "0x10", " 1", "%00"),
  nastyString,
);

export function readRequest(): fc.Arbitrary<Sent> {
  const target = fc.constantFrom(...collections).map((c) => c.path);
  const param = fc.oneof(
    selectorGarbage.map((v) => `labelSelector=${encodeAny(v)}`),
    selectorGarbage.map((v) => `fieldSelector=${encodeAny(v)}`),
    versionGarbage.map((v) => `resourceVersion=${encodeAny(v)}`),
    fc.constantFrom("NotOlderThan", "Exact", "bogus", "").map((v) => `resourceVersionMatch=${v}`),
    versionGarbage.map((v) => `limit=${encodeAny(v)}`),
    fc
      .oneof(
        nastyString,
        fc.constantFrom("eyJ4IjoxfQ", "eyJydiI6LTEsInN0YXJ0IjoiXHUwMDAwIn0", "!!!", "a".repeat(10_000)),
        fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v) ?? "").toString("base64")),
      )
      .map((v) => `continue=${encodeAny(v)}`),
    versionGarbage.map((v) => `timeoutSeconds=${encodeAny(v)}`),
    fc.constantFrom("true", "false", "1", "0", "yes", "").map((v) => `allowWatchBookmarks=${v}`),
    fc.constantFrom("true", "1", "false", "x").map((v) => `sendInitialEvents=${v}`),
    nastyString.map((v) => `${encodeAny(v)}=${encodeAny(v)}`),
  );
  return fc
    .tuple(
      target,
      fc.constantFrom("", "/anchor", "/target-cm", "/nope", "/%00", "/..", `/${"a".repeat(300)}`),
      fc.oneof(fc.constant(false), fc.constant(true)),
      fc.array(param, { minLength: 1, maxLength: 4 }),
      fc.constantFrom(
        "application/json",
        "application/json;as=Table;v=v1;g=meta.k8s.io",
        "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
        "application/json;as=Bogus;v=v9;g=x",
        "application/vnd.kubernetes.protobuf",
        "application/yaml",
        "text/html",
        "",
      ),
    )
    .map(([base, name, watch, params, accept]) => ({
      kind: watch ? "watch" : "read",
      method: "GET",
      path: `${base}${name}?${[...(watch ? ["watch=true"] : []), ...params].join("&")}`,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(accept === "" ? {} : { Accept: accept }),
      },
    }));
}

export function objectRequest(): fc.Arbitrary<Sent> {
  return collection.chain((c) =>
    fc
      .tuple(
        fc.oneof(
          { weight: 6, arbitrary: objectFor(c).map((o) => toJsonText(o)) },
          { weight: 1, arbitrary: fc.constantFrom("{", "[]", "null", "1", '"x"', "\uFEFF{}", "{}".repeat(100)) },
          {
            weight: 1,
            arbitrary: fc.constantFrom(
              `{"apiVersion":"${c.apiVersion}","kind":"${c.kind}","metadata":{"name":"deep"},"data":${"[".repeat(DEPTH)}${"]".repeat(DEPTH)}}`,
              `{"apiVersion":"${c.apiVersion}","kind":"${c.kind}","metadata":${'{"a":'.repeat(DEPTH)}1${"}".repeat(DEPTH)}}`,
              `{"apiVersion":"${c.apiVersion}","kind":"${c.kind}","metadata":{"name":"big"},"data":{"k":"${"x".repeat(4_000_000)}"}}`,
            ),
          },
        ),
        fc.constantFrom("POST", "POST", "POST", "PUT"),
        fc.constantFrom("application/json", "application/json", "application/yaml", "text/plain"),
        fc.constantFrom("", "?dryRun=All", "?fieldValidation=Strict", "?fieldManager=%00", "?dryRun=bogus"),
      )
      .map(([body, method, type, query]) => ({
        kind: "object",
        method,
        path: `${c.path}${method === "PUT" ? `/${c.target}` : ""}${query}`,
        headers: { Authorization: `Bearer ${token}`, "Content-Type": type },
        body,
      })),
  );
}

export function patchRequest(): fc.Arbitrary<Sent> {
  return collection.chain((c) =>
    fc
      .tuple(
        patchFor(c),
        patchQuery,
        fc.constantFrom("", "", "", "/status", "/scale", "/nope"),
        fc.constantFrom(c.target, c.target, "anchor-missing"),
      )
      .map(([patch, query, sub, name]) => ({
        kind: `patch ${patch.type || "(none)"}`,
        method: "PATCH",
        path: `${c.path}/${name}${sub}${query}`,
        headers: {
          Authorization: `Bearer ${token}`,
          ...(patch.type === "" ? {} : { "Content-Type": patch.type }),
        },
        body: patch.body,
      })),
  );
}
