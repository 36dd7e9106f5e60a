import { describe, it, expect } from "@jest/globals";
import {
  buildOpenApi,
  isRequiredRule,
  normalizeRule,
  paramsToJsonSchema,
  parseShorthand,
  ruleToJsonSchema,
  toOpenApiPath,
  type OpenApiRoute,
} from "../../lib/openapi.ts";
import { defineParams } from "../../lib/params.ts";

describe("lib/openapi ruleToJsonSchema", () => {
  it.each<[string, unknown, Record<string, unknown>]>([
    ["any", { type: "any" }, {}],
    ["string", { type: "string" }, { type: "string" }],
    ["string min/max", { type: "string", min: 2, max: 5 }, { type: "string", minLength: 2, maxLength: 5 }],
    ["string length", { type: "string", length: 3 }, { type: "string", minLength: 3, maxLength: 3 }],
    ["string empty:false", { type: "string", empty: false }, { type: "string", minLength: 1 }],
    ["string pattern (string)", { type: "string", pattern: "^[a-z]+$" }, { type: "string", pattern: "^[a-z]+$" }],
    ["string pattern (RegExp)", { type: "string", pattern: /^a\d$/ }, { type: "string", pattern: "^a\\d$" }],
    ["string enum", { type: "string", enum: ["a", "b"] }, { type: "string", enum: ["a", "b"] }],
    ["string alpha", { type: "string", alpha: true }, { type: "string", pattern: "^[a-zA-Z]+$" }],
    [
      "string pattern + flag",
      { type: "string", pattern: "^x", alphanum: true },
      { type: "string", pattern: "^x", allOf: [{ pattern: "^[a-zA-Z0-9]+$" }] },
    ],
    ["email", { type: "email" }, { type: "string", format: "email" }],
    ["email max", { type: "email", max: 50 }, { type: "string", format: "email", maxLength: 50 }],
    ["url", { type: "url" }, { type: "string", format: "uri" }],
    ["uuid", { type: "uuid" }, { type: "string", format: "uuid" }],
    ["objectID", { type: "objectID" }, { type: "string", pattern: "^[0-9a-fA-F]{24}$" }],
    ["date", { type: "date" }, { type: "string", format: "date-time" }],
    ["number", { type: "number" }, { type: "number" }],
    ["number integer", { type: "number", integer: true }, { type: "integer" }],
    ["number min/max", { type: "number", min: 0, max: 50 }, { type: "number", minimum: 0, maximum: 50 }],
    ["number positive", { type: "number", positive: true }, { type: "number", exclusiveMinimum: 0 }],
    ["number negative", { type: "number", negative: true }, { type: "number", exclusiveMaximum: 0 }],
    ["number equal", { type: "number", equal: 3 }, { type: "number", const: 3 }],
    ["number notEqual", { type: "number", notEqual: 3 }, { type: "number", not: { const: 3 } }],
    ["boolean", { type: "boolean" }, { type: "boolean" }],
    ["enum", { type: "enum", values: ["plain", "secret"] }, { enum: ["plain", "secret"] }],
    ["equal", { type: "equal", value: "yes" }, { const: "yes" }],
    ["array", { type: "array" }, { type: "array" }],
    [
      "array items/min/max/unique",
      { type: "array", items: "string", min: 1, max: 3, unique: true },
      { type: "array", items: { type: "string" }, minItems: 1, maxItems: 3, uniqueItems: true },
    ],
    ["array length", { type: "array", length: 2 }, { type: "array", minItems: 2, maxItems: 2 }],
    ["array empty:false", { type: "array", empty: false }, { type: "array", minItems: 1 }],
    ["array contains", { type: "array", contains: "x" }, { type: "array", contains: { const: "x" } }],
    ["array enum", { type: "array", enum: ["a"] }, { type: "array", items: { enum: ["a"] } }],
    [
      "tuple",
      { type: "tuple", items: ["string", "number"] },
      { type: "array", prefixItems: [{ type: "string" }, { type: "number" }], items: false, minItems: 2, maxItems: 2 },
    ],
    ["object without props", { type: "object" }, { type: "object" }],
    [
      "object props, strict",
      { type: "object", strict: true, props: { a: "string", b: { type: "number", optional: true } } },
      {
        type: "object",
        properties: { a: { type: "string" }, b: { type: "number" } },
        required: ["a"],
        additionalProperties: false,
      },
    ],
    [
      "object properties, strict remove, min/maxProps",
      { type: "object", strict: "remove", properties: { a: "string|optional" }, minProps: 1, maxProps: 2 },
      { type: "object", properties: { a: { type: "string" } }, minProperties: 1, maxProperties: 2 },
    ],
    [
      "object $$type shorthand",
      { $$type: "object|optional", name: "string" },
      { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
    ],
    ["record", { type: "record" }, { type: "object", additionalProperties: {} }],
    [
      "record key/value",
      { type: "record", key: { type: "string", pattern: "^[A-Z_]+$" }, value: { type: "number" } },
      {
        type: "object",
        additionalProperties: { type: "number" },
        propertyNames: { type: "string", pattern: "^[A-Z_]+$" },
      },
    ],
    ["multi", { type: "multi", rules: ["string", "number"] }, { anyOf: [{ type: "string" }, { type: "number" }] }],
    ["multi as array", ["string", { type: "boolean" }], { anyOf: [{ type: "string" }, { type: "boolean" }] }],
    ["forbidden", { type: "forbidden" }, { not: {} }],
    ["mac", { type: "mac" }, { type: "string", description: "a MAC address" }],
    ["luhn", { type: "luhn" }, { type: "string", description: "digits passing the Luhn checksum" }],
    ["currency", { type: "currency" }, { type: "string", description: "a currency amount" }],
    ["shorthand", "string|min:3|max:9", { type: "string", minLength: 3, maxLength: 9 }],
    ["shorthand array", "number[]", { type: "array", items: { type: "number" } }],
    ["default", { type: "number", default: 1 }, { type: "number", default: 1 }],
    ["nullable", { type: "string", nullable: true }, { type: ["string", "null"] }],
    ["nullable enum", { type: "enum", values: ["a"], nullable: true }, { anyOf: [{ enum: ["a"] }, { type: "null" }] }],
    ["description", { type: "string", description: "the name" }, { type: "string", description: "the name" }],
  ])("%s", (_name, rule, expected) => {
    expect(ruleToJsonSchema(rule)).toEqual(expected);
  });

  it.each(["class", "function", "custom", "somethingNew"])(
    "turns the unexpressible rule '%s' into {} with a description",
    (type) => {
      expect(ruleToJsonSchema({ type })).toEqual({ description: expect.stringContaining(`'${type}'`) });
    },
  );

  it("drops a function default (computed at call time)", () => {
    expect(ruleToJsonSchema({ type: "number", default: () => 1 })).toEqual({ type: "number" });
  });
});

describe("lib/openapi helpers", () => {
  it("parses shorthand like fastest-validator", () => {
    expect(parseShorthand("string|min:3|optional|no-empty|pattern:abc")).toEqual({
      type: "string",
      min: 3,
      optional: true,
      empty: false,
      pattern: "abc",
    });
    expect(parseShorthand("boolean|convert:true")).toEqual({ type: "boolean", convert: true });
    expect(normalizeRule(["string|optional", "number|optional"])).toMatchObject({ type: "multi", optional: true });
  });

  it("requires a field unless it is optional, has a default or is forbidden", () => {
    expect(isRequiredRule("string")).toBe(true);
    expect(isRequiredRule({ type: "string", optional: true })).toBe(false);
    expect(isRequiredRule("string|optional")).toBe(false);
    expect(isRequiredRule({ type: "number", default: 2 })).toBe(false);
    expect(isRequiredRule({ type: "forbidden" })).toBe(false);
  });

  it("converts a whole params schema, $$strict to additionalProperties false", () => {
    const params = defineParams({
      $$strict: true,
      name: { type: "string", max: 63 },
      replicas: { type: "number", integer: true, min: 0, default: 1 },
      reason: { type: "string", optional: true },
    });
    expect(paramsToJsonSchema(params)).toEqual({
      type: "object",
      properties: {
        name: { type: "string", maxLength: 63 },
        replicas: { type: "integer", minimum: 0, default: 1 },
        reason: { type: "string" },
      },
      required: ["name"],
      additionalProperties: false,
    });
    expect(paramsToJsonSchema({ $$strict: "remove", a: "string" })).toEqual({
      type: "object",
      properties: { a: { type: "string" } },
      required: ["a"],
    });
    expect(paramsToJsonSchema({ $$root: true, type: "string" })).toEqual({ type: "string" });
    expect(paramsToJsonSchema(undefined)).toEqual({ type: "object" });
  });

  it("turns :params and *splats into {params}", () => {
    expect(toOpenApiPath("/api/v1/k8s/namespaces/:id/members/:userID")).toEqual({
      path: "/api/v1/k8s/namespaces/{id}/members/{userID}",
      names: ["id", "userID"],
    });
    expect(toOpenApiPath("/api/files/*path")).toEqual({ path: "/api/files/{path}", names: ["path"] });
  });
});

describe("lib/openapi buildOpenApi", () => {
  const createParams = defineParams({
    $$strict: true,
    name: { type: "string", pattern: "^[a-z]+$" },
    size: { type: "number", default: 1 },
  });
  const listParams = defineParams({
    limit: { type: "number", optional: true, convert: true },
    query: { type: "object", optional: true },
  });
  const memberParams = defineParams({
    $$strict: true,
    id: "string",
    userID: "string",
    role: { type: "enum", values: ["member", "viewer"] },
  });
  const routes: OpenApiRoute[] = [
    { method: "GET", path: "/api/v1/k8s/widgets", action: "v1.k8s.widgets.list" },
    { method: "POST", path: "/api/v1/k8s/widgets", action: "v1.k8s.widgets.create" },
    { method: "GET", path: "/api/v1/k8s/widgets/:id", action: "v1.k8s.widgets.get" },
    { method: "POST", path: "/api/v1/k8s/widgets/:id/members/:userID", action: "v1.k8s.widgets.addMember" },
    { method: "GET", path: "/api/health", action: "api.health", public: true },
  ];
  const doc = buildOpenApi(routes, [
    { name: "v1.k8s.widgets.list", params: listParams, description: "Lists widgets.\nPaged." },
    { name: "v1.k8s.widgets.create", params: createParams, description: "Creates a widget" },
    { name: "v1.k8s.widgets.get", params: { id: "string" } },
    { name: "v1.k8s.widgets.addMember", params: memberParams },
    { name: "api.health" },
  ]);

  it("is an OpenAPI 3.1 document with one operation per route", () => {
    expect(doc.openapi).toBe("3.1.0");
    const ops = Object.entries(doc.paths).flatMap(([p, item]) =>
      Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(ops.sort()).toEqual([
      "GET /api/health",
      "GET /api/v1/k8s/widgets",
      "GET /api/v1/k8s/widgets/{id}",
      "POST /api/v1/k8s/widgets",
      "POST /api/v1/k8s/widgets/{id}/members/{userID}",
    ]);
    expect(doc.tags).toEqual([{ name: "api" }, { name: "v1.k8s.widgets" }]);
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: "http", scheme: "bearer", bearerFormat: "JWT" });
  });

  it("names operations after their action, with summaries from descriptions or the action name", () => {
    expect(doc.paths["/api/v1/k8s/widgets"]?.["get"]).toMatchObject({
      operationId: "v1.k8s.widgets.list",
      summary: "Lists widgets.",
      description: "Lists widgets.\nPaged.",
      tags: ["v1.k8s.widgets"],
      "x-moleculer-action": "v1.k8s.widgets.list",
    });
    expect(doc.paths["/api/v1/k8s/widgets/{id}"]?.["get"]?.summary).toBe("get (v1.k8s.widgets)");
  });

  it("sends GET params as query parameters", () => {
    expect(doc.paths["/api/v1/k8s/widgets"]?.["get"]?.parameters).toEqual([
      { name: "limit", in: "query", required: false, schema: { type: "number" } },
      { name: "query", in: "query", required: false, schema: { type: "object" }, style: "deepObject", explode: true },
    ]);
    expect(doc.paths["/api/v1/k8s/widgets"]?.["get"]?.requestBody).toBeUndefined();
  });

  it("sends POST params as a JSON body, minus the path params", () => {
    const create = doc.paths["/api/v1/k8s/widgets"]?.["post"];
    expect(create?.parameters).toBeUndefined();
    expect(create?.requestBody).toEqual({
      required: true,
      content: {
        "application/json": {
          schema: {
            type: "object",
            properties: { name: { type: "string", pattern: "^[a-z]+$" }, size: { type: "number", default: 1 } },
            required: ["name"],
            additionalProperties: false,
          },
        },
      },
    });
    const add = doc.paths["/api/v1/k8s/widgets/{id}/members/{userID}"]?.["post"];
    expect(add?.parameters).toEqual([
      { name: "id", in: "path", required: true, schema: { type: "string" } },
      { name: "userID", in: "path", required: true, schema: { type: "string" } },
    ]);
    expect(add?.requestBody?.content["application/json"].schema).toEqual({
      type: "object",
      properties: { role: { enum: ["member", "viewer"] } },
      required: ["role"],
      additionalProperties: false,
    });
  });

  it("says an answer that is not JSON is what the action declares (`openapi.contentType`)", () => {
    const logs = buildOpenApi(
      [{ method: "GET", path: "/api/v1/k8s/widgets/:id/logs", action: "v1.k8s.widgets.logs" }],
      [{ name: "v1.k8s.widgets.logs", params: { id: "string" }, openapi: { contentType: "text/plain" } }],
    );
    expect(logs.paths["/api/v1/k8s/widgets/{id}/logs"]?.["get"]?.responses["200"]).toEqual({
      description: "Success",
      content: { "text/plain": { schema: { type: "string" } } },
    });
    expect(doc.paths["/api/v1/k8s/widgets/{id}"]?.["get"]?.responses["200"]).toEqual({
      description: "Success",
      content: { "application/json": { schema: {} } },
    });
  });

  it("secures every operation with bearerAuth and documents the error responses, except public ones", () => {
    const get = doc.paths["/api/v1/k8s/widgets/{id}"]?.["get"];
    expect(get?.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(get?.responses ?? {})).toEqual(["200", "401", "403", "404", "409", "422", "503"]);
    for (const code of ["401", "403", "404", "409", "422", "503"]) {
      expect(get?.responses[code]).toMatchObject({
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      });
    }
    expect(Object.keys(doc.paths["/api/v1/k8s/widgets"]?.["post"]?.responses ?? {})).toEqual(
      expect.arrayContaining(["400", "413"]),
    );
    const health = doc.paths["/api/health"]?.["get"];
    expect(health?.security).toEqual([]);
    expect(Object.keys(health?.responses ?? {})).toEqual(["200", "503"]);
    expect(doc.components.schemas.Error).toMatchObject({ required: ["name", "message", "code", "type", "data"] });
  });

  it("expands '*' to every method and keeps operationIds unique", () => {
    const d = buildOpenApi(
      [
        { method: "*", path: "/api/x", action: "v1.k8s.x.any" },
        { method: "GET", path: "/api/x/other", action: "v1.k8s.x.any" },
        { method: "OPTIONS", path: "/api/x/o", action: "v1.k8s.x.opt" },
        { method: "BREW", path: "/api/x/coffee", action: "v1.k8s.x.brew" },
      ],
      [],
    );
    expect(Object.keys(d.paths["/api/x"] ?? {}).sort()).toEqual(["delete", "get", "patch", "post", "put"]);
    const ids = Object.values(d.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain("v1.k8s.x.any");
    expect(d.paths["/api/x/o"]?.["options"]?.operationId).toBe("v1.k8s.x.opt");
    expect(d.paths["/api/x/coffee"]).toBeUndefined();
  });

  it("documents routes whose action has no known params with path params as strings", () => {
    const d = buildOpenApi([{ method: "DELETE", path: "/api/y/:id", action: "v1.k8s.y.remove" }], []);
    expect(d.paths["/api/y/{id}"]?.["delete"]?.parameters).toEqual([
      { name: "id", in: "path", required: true, schema: { type: "string" } },
    ]);
  });
});
