/**
 * The REST reference, generated: an OpenAPI 3.1 document from the gateway's resolved aliases (method, full path,
 * action) and each action's fastest-validator `params` schema, converted to JSON Schema 2020-12 (the dialect of
 * OpenAPI 3.1). Pure: no broker, no I/O; `services/api.service.ts` feeds it the live aliases and the registry.
 */

declare module "moleculer" {
  interface ActionSchema {
    /** One line (more lines become the description) shown as the operation's summary in GET /api/openapi.json. */
    description?: string;
    /** What GET /api/openapi.json says of the answer beyond the params: `contentType` when it is not JSON. */
    openapi?: { contentType?: string };
  }
}

/** A JSON Schema (2020-12) object. */
export type JsonSchema = { [key: string]: unknown };

/** One published route: a resolved moleculer-web alias. */
export interface OpenApiRoute {
  /** HTTP method, upper or lower case; "*" = every method. */
  method: string;
  /** The full path as the gateway matches it, with `:name` params, e.g. "/api/v1/k8s/namespaces/:id". */
  path: string;
  /** The action it calls, e.g. "v1.k8s.namespaces.get". */
  action: string;
  /** No credentials needed (health, readiness, this document). */
  public?: boolean;
}

/** What the document needs to know about an action (a registry entry's `action`). */
export interface OpenApiAction {
  name: string;
  /** The fastest-validator schema, as declared (`defineParams({...})`). */
  params?: unknown;
  /** Free text; its first line becomes the operation's summary. */
  description?: unknown;
  /** The action's `openapi` property: `{ contentType: "text/plain" }` for an answer that is not JSON. */
  openapi?: unknown;
}

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

export interface OpenApiParameter {
  name: string;
  in: "path" | "query";
  required: boolean;
  schema: JsonSchema;
  style?: string;
  explode?: boolean;
}

export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security: Record<string, string[]>[];
  parameters?: OpenApiParameter[];
  requestBody?: { required: boolean; content: { "application/json": { schema: JsonSchema } } };
  responses: Record<string, JsonSchema>;
  "x-moleculer-action": string;
}

export interface OpenApiDocument {
  openapi: "3.1.0";
  info: OpenApiInfo;
  tags: { name: string }[];
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: {
    schemas: { Error: JsonSchema };
    securitySchemes: { bearerAuth: JsonSchema };
  };
  security: Record<string, string[]>[];
}

const ERROR_REF = "#/components/schemas/Error";
const ALL_METHODS = ["get", "post", "put", "patch", "delete"] as const;
const OPENAPI_METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);
const BODY_METHODS = new Set(["post", "put", "patch"]);

/** Error responses every authenticated operation documents, all with the one Error schema. */
const ERROR_RESPONSES: Record<string, string> = {
  "401": "Missing or invalid bearer token",
  "403": "Not allowed",
  "404": "Not found, or not visible to the caller",
  "409": "Name taken, or still in use",
  "422": "Invalid parameters (data lists each field and rule)",
  "503": "A dependency (database, cluster, service) is unavailable; retry later",
};
const BODY_ERROR_RESPONSES: Record<string, string> = {
  "400": "Malformed JSON body",
  "413": "Body larger than the gateway's limit",
};

const STRING_FLAG_PATTERNS: Record<string, string> = {
  alpha: "^[a-zA-Z]+$",
  numeric: "^-?[0-9]\\d*(\\.\\d+)?$",
  alphanum: "^[a-zA-Z0-9]+$",
  alphadash: "^[a-zA-Z0-9_-]+$",
  hex: "^([0-9A-Fa-f]{2})+$",
  base64: "^(?:[A-Za-z0-9+\\/]{4})*(?:[A-Za-z0-9+\\/]{2}==|[A-Za-z0-9+\\/]{3}=)?$",
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseScalar(value: string): unknown {
  if (value === "true" || value === "false") return value === "true";
  if (value !== "" && !Number.isNaN(Number(value))) return Number(value);
  return value;
}

/** fastest-validator's shorthand ("string|min:3|optional", "number[]") as a full rule, as its parseShortHand does. */
export function parseShorthand(text: string): Record<string, unknown> {
  const [head = "", ...flags] = text.split("|").map((s) => s.trim());
  const rule: Record<string, unknown> = head.endsWith("[]")
    ? { type: "array", items: head.slice(0, -2) }
    : { type: head };
  for (const flag of flags) {
    const idx = flag.indexOf(":");
    if (idx !== -1) rule[flag.slice(0, idx).trim()] = parseScalar(flag.slice(idx + 1).trim());
    else if (flag.startsWith("no-")) rule[flag.slice(3)] = false;
    else rule[flag] = true;
  }
  return rule;
}

/** Any rule form (shorthand string, array = multi, `$$type` object shorthand, full object) as a full rule. */
export function normalizeRule(rule: unknown): Record<string, unknown> {
  if (typeof rule === "string") return parseShorthand(rule);
  if (Array.isArray(rule)) {
    const rules = rule.map(normalizeRule);
    const all = (flag: string): boolean => rules.length > 0 && rules.every((r) => r[flag] === true);
    return {
      type: "multi",
      rules,
      ...(all("optional") ? { optional: true } : {}),
      ...(all("nullable") ? { nullable: true } : {}),
    };
  }
  if (isRecord(rule)) {
    if (typeof rule["$$type"] === "string") {
      const { $$type, ...props } = rule;
      return { ...parseShorthand($$type), type: "object", props };
    }
    return rule;
  }
  return { type: String(rule) };
}

/** True when a caller must send the field: not optional, no default, not forbidden. */
export function isRequiredRule(rule: unknown): boolean {
  const r = normalizeRule(rule);
  return r["optional"] !== true && r["default"] === undefined && r["type"] !== "forbidden";
}

function num(r: Record<string, unknown>, key: string): number | undefined {
  const v = r[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function patternSource(p: unknown): string | undefined {
  if (p instanceof RegExp) return p.source;
  if (typeof p === "string") return p;
  // A RegExp sent over the transporter arrives as {} or its string form; nothing useful to say then.
  return undefined;
}

function withPatterns(schema: JsonSchema, patterns: string[]): JsonSchema {
  const [first, ...rest] = patterns;
  if (first === undefined) return schema;
  return { ...schema, pattern: first, ...(rest.length > 0 ? { allOf: rest.map((pattern) => ({ pattern })) } : {}) };
}

function stringSchema(r: Record<string, unknown>, base: JsonSchema = { type: "string" }): JsonSchema {
  const s: JsonSchema = { ...base };
  const length = num(r, "length");
  let minLength = length ?? num(r, "min");
  const maxLength = length ?? num(r, "max");
  if (r["empty"] === false) minLength = Math.max(minLength ?? 0, 1);
  if (minLength !== undefined) s["minLength"] = minLength;
  if (maxLength !== undefined) s["maxLength"] = maxLength;
  if (Array.isArray(r["enum"])) s["enum"] = r["enum"];
  const patterns: string[] = [];
  const pattern = patternSource(r["pattern"]);
  if (pattern !== undefined) patterns.push(pattern);
  for (const [flag, flagPattern] of Object.entries(STRING_FLAG_PATTERNS)) {
    if (r[flag] === true) patterns.push(flagPattern);
  }
  return withPatterns(s, patterns);
}

function numberSchema(r: Record<string, unknown>): JsonSchema {
  const s: JsonSchema = { type: r["integer"] === true ? "integer" : "number" };
  const min = num(r, "min");
  const max = num(r, "max");
  if (min !== undefined) s["minimum"] = min;
  if (max !== undefined) s["maximum"] = max;
  if (r["equal"] !== undefined) s["const"] = r["equal"];
  if (r["notEqual"] !== undefined) s["not"] = { const: r["notEqual"] };
  if (r["positive"] === true) s["exclusiveMinimum"] = 0;
  if (r["negative"] === true) s["exclusiveMaximum"] = 0;
  return s;
}

function arraySchema(r: Record<string, unknown>): JsonSchema {
  const s: JsonSchema = { type: "array" };
  if (r["items"] !== undefined) s["items"] = ruleToJsonSchema(r["items"]);
  else if (Array.isArray(r["enum"])) s["items"] = { enum: r["enum"] };
  const length = num(r, "length");
  let minItems = length ?? num(r, "min");
  const maxItems = length ?? num(r, "max");
  if (r["empty"] === false) minItems = Math.max(minItems ?? 0, 1);
  if (minItems !== undefined) s["minItems"] = minItems;
  if (maxItems !== undefined) s["maxItems"] = maxItems;
  if (r["contains"] !== undefined) s["contains"] = { const: r["contains"] };
  if (r["unique"] === true) s["uniqueItems"] = true;
  return s;
}

/** Properties and required list of a fields map (object `props`, or an action's top-level params). */
function fieldsSchema(fields: Record<string, unknown>, strict: unknown): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [name, rule] of Object.entries(fields)) {
    if (name.startsWith("$$")) continue;
    properties[name] = ruleToJsonSchema(rule);
    if (isRequiredRule(rule)) required.push(name);
  }
  return {
    type: "object",
    properties,
    ...(required.length > 0 ? { required } : {}),
    ...(strict === true ? { additionalProperties: false } : {}),
  };
}

function objectSchema(r: Record<string, unknown>): JsonSchema {
  const props = isRecord(r["props"]) ? r["props"] : isRecord(r["properties"]) ? r["properties"] : undefined;
  const s: JsonSchema = props === undefined ? { type: "object" } : fieldsSchema(props, r["strict"]);
  if (props === undefined && r["strict"] === true) s["additionalProperties"] = false;
  const minProps = num(r, "minProps");
  const maxProps = num(r, "maxProps");
  if (minProps !== undefined) s["minProperties"] = minProps;
  if (maxProps !== undefined) s["maxProperties"] = maxProps;
  return s;
}

function typedSchema(r: Record<string, unknown>): JsonSchema {
  const type = r["type"];
  switch (type) {
    case "any":
      return {};
    case "string":
      return stringSchema(r);
    case "email":
      return stringSchema({ min: r["min"], max: r["max"], empty: r["empty"] }, { type: "string", format: "email" });
    case "url":
      return { type: "string", format: "uri" };
    case "uuid":
      return { type: "string", format: "uuid" };
    case "objectID":
      return { type: "string", pattern: "^[0-9a-fA-F]{24}$" };
    case "mac":
      return { type: "string", description: "a MAC address" };
    case "luhn":
      return { type: "string", description: "digits passing the Luhn checksum" };
    case "currency":
      return { type: "string", description: "a currency amount" };
    case "date":
      return { type: "string", format: "date-time" };
    case "number":
      return numberSchema(r);
    case "boolean":
      return { type: "boolean" };
    case "enum":
      return Array.isArray(r["values"]) ? { enum: r["values"] } : {};
    case "equal":
      return { const: r["value"] };
    case "array":
      return arraySchema(r);
    case "tuple": {
      const items = Array.isArray(r["items"]) ? r["items"].map(ruleToJsonSchema) : [];
      return { type: "array", prefixItems: items, items: false, minItems: items.length, maxItems: items.length };
    }
    case "object":
      return objectSchema(r);
    case "record":
      return {
        type: "object",
        additionalProperties: r["value"] === undefined ? {} : ruleToJsonSchema(r["value"]),
        ...(r["key"] === undefined ? {} : { propertyNames: ruleToJsonSchema(r["key"]) }),
      };
    case "multi":
      return { anyOf: Array.isArray(r["rules"]) ? r["rules"].map(ruleToJsonSchema) : [] };
    case "forbidden":
      return { not: {} };
    default:
      return { description: `fastest-validator rule '${String(type)}' has no JSON Schema equivalent` };
  }
}

function withNull(s: JsonSchema): JsonSchema {
  const type = s["type"];
  if (typeof type === "string") return { ...s, type: [type, "null"] };
  if (Object.keys(s).length === 0) return s;
  return { anyOf: [s, { type: "null" }] };
}

/** One fastest-validator rule (any form) as JSON Schema: unknown rules become {} with a description. */
export function ruleToJsonSchema(rule: unknown): JsonSchema {
  const r = normalizeRule(rule);
  let s = typedSchema(r);
  if (r["nullable"] === true) s = withNull(s);
  const def = r["default"];
  if (def !== undefined && typeof def !== "function") s["default"] = def;
  if (typeof r["description"] === "string" && s["description"] === undefined) s["description"] = r["description"];
  return s;
}

/** An action's whole `params` schema as one JSON Schema object (`$$strict: true` → additionalProperties false). */
export function paramsToJsonSchema(params: unknown): JsonSchema {
  if (!isRecord(params)) return { type: "object" };
  if (params["$$root"] === true) {
    const { $$root: _root, ...rule } = params;
    return ruleToJsonSchema(rule);
  }
  return fieldsSchema(params, params["$$strict"]);
}

/** "/api/v1/x/:id" → { path: "/api/v1/x/{id}", names: ["id"] }. */
export function toOpenApiPath(path: string): { path: string; names: string[] } {
  const names: string[] = [];
  const converted = path.replace(/[:*]([A-Za-z_$][\w$]*)/g, (_m, name: string) => {
    names.push(name);
    return `{${name}}`;
  });
  return { path: converted, names };
}

function errorResponse(description: string): JsonSchema {
  return { description, content: { "application/json": { schema: { $ref: ERROR_REF } } } };
}

function summaryOf(action: OpenApiAction | undefined, name: string): { summary: string; description?: string } {
  const text = typeof action?.description === "string" ? action.description.trim() : "";
  if (text === "") {
    const dot = name.lastIndexOf(".");
    return { summary: dot === -1 ? name : `${name.slice(dot + 1)} (${name.slice(0, dot)})` };
  }
  const first = text.split("\n")[0] ?? text;
  return first === text ? { summary: first } : { summary: first, description: text };
}

function operationFor(
  route: OpenApiRoute,
  method: string,
  names: string[],
  action: OpenApiAction | undefined,
  operationId: string,
): OpenApiOperation {
  const schema = paramsToJsonSchema(action?.params);
  const properties = isRecord(schema["properties"]) ? schema["properties"] : {};
  const required = new Set(Array.isArray(schema["required"]) ? (schema["required"] as string[]) : []);
  const parameters: OpenApiParameter[] = names.map((name) => ({
    name,
    in: "path",
    required: true,
    schema: (properties[name] as JsonSchema | undefined) ?? { type: "string" },
  }));
  const rest = Object.keys(properties).filter((k) => !names.includes(k));
  let requestBody: OpenApiOperation["requestBody"];
  if (BODY_METHODS.has(method)) {
    if (rest.length > 0) {
      const bodyRequired = rest.filter((k) => required.has(k));
      const body: JsonSchema = {
        type: "object",
        properties: Object.fromEntries(rest.map((k) => [k, properties[k]])),
        ...(bodyRequired.length > 0 ? { required: bodyRequired } : {}),
        ...(schema["additionalProperties"] === false ? { additionalProperties: false } : {}),
      };
      requestBody = { required: bodyRequired.length > 0, content: { "application/json": { schema: body } } };
    }
  } else {
    for (const name of rest) {
      const fieldSchema = properties[name] as JsonSchema;
      parameters.push({
        name,
        in: "query",
        required: required.has(name),
        schema: fieldSchema,
        ...(fieldSchema["type"] === "object" ? { style: "deepObject", explode: true } : {}),
      });
    }
  }
  const declared = isRecord(action?.openapi) ? action.openapi["contentType"] : undefined;
  const contentType = typeof declared === "string" ? declared : "application/json";
  const responses: Record<string, JsonSchema> = {
    "200": {
      description: "Success",
      content: { [contentType]: { schema: contentType.startsWith("text/") ? { type: "string" } : {} } },
    },
  };
  const errors: Record<string, string> =
    route.public === true
      ? { "503": ERROR_RESPONSES["503"] ?? "" }
      : { ...ERROR_RESPONSES, ...(BODY_METHODS.has(method) ? BODY_ERROR_RESPONSES : {}) };
  for (const code of Object.keys(errors).sort()) responses[code] = errorResponse(errors[code] ?? "");
  const dot = route.action.lastIndexOf(".");
  return {
    operationId,
    ...summaryOf(action, route.action),
    tags: [dot === -1 ? route.action : route.action.slice(0, dot)],
    security: route.public === true ? [] : [{ bearerAuth: [] }],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(requestBody === undefined ? {} : { requestBody }),
    responses,
    "x-moleculer-action": route.action,
  };
}

/**
 * The OpenAPI 3.1 document of the given routes: one operation per (method, path), operationId = action name (made
 * unique with a suffix when one action has several routes), path params from `:name`, a JSON body for
 * POST/PUT/PATCH and query params otherwise, bearerAuth except on public routes, and the error responses.
 */
export function buildOpenApi(
  routes: readonly OpenApiRoute[],
  actions: readonly OpenApiAction[],
  info: OpenApiInfo = { title: "moleculer-k8s", version: "1" },
): OpenApiDocument {
  const byName = new Map(actions.map((a) => [a.name, a]));
  const paths: Record<string, Record<string, OpenApiOperation>> = {};
  const usedIds = new Set<string>();
  const tags = new Set<string>();
  const sorted = [...routes].sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
  for (const route of sorted) {
    const { path, names } = toOpenApiPath(route.path);
    const method = route.method.toLowerCase();
    const methods = method === "*" ? [...ALL_METHODS] : OPENAPI_METHODS.has(method) ? [method] : [];
    for (const m of methods) {
      const item = (paths[path] ??= {});
      if (item[m] !== undefined) continue; // the gateway matches the first alias; a later duplicate is unreachable
      let operationId = route.action;
      for (let n = 2; usedIds.has(operationId); n++) operationId = `${route.action}_${n}`;
      usedIds.add(operationId);
      const op = operationFor(route, m, names, byName.get(route.action), operationId);
      tags.add(op.tags[0] ?? route.action);
      item[m] = op;
    }
  }
  return {
    openapi: "3.1.0",
    info,
    tags: [...tags].sort().map((name) => ({ name })),
    paths,
    components: {
      schemas: {
        Error: {
          type: "object",
          required: ["name", "message", "code", "type", "data"],
          properties: {
            name: { type: "string", examples: ["ValidationError"] },
            message: { type: "string" },
            code: { type: "integer", minimum: 400, maximum: 599 },
            type: { type: ["string", "null"], examples: ["VALIDATION_ERROR"] },
            data: { description: "Details: for 422 the list of {type, field, message, actual}" },
          },
        },
      },
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
    },
    security: [{ bearerAuth: [] }],
  };
}
