/**
 * lib/alias-index.ts against moleculer-web's own `resolveAlias` over real `Alias` objects (moleculer-web's class,
 * path-to-regexp's regexes), sorted by moleculer-web's `optimizeAliasesOrder`: for every request the index must answer
 * the very alias and parameters the linear scan answers. Requests are made from the aliases' paths and then bent
 * (case, trailing slashes, empty, encoded and non-ASCII segments, segments added or dropped, literals changed), with
 * every method; a seeded generator keeps a failure reproducible.
 */
import { describe, expect, it } from "@jest/globals";
import { createRequire } from "node:module";
import ApiGateway from "moleculer-web";
import { AliasIndex, type ResolvableAlias, type ResolvedAlias } from "../../lib/alias-index.ts";
import { seededRandom } from "../../lib/sandbox/controllers/hash.ts";

const require = createRequire(import.meta.url);
type AliasClass = new (service: unknown, route: unknown, opts: string, action: string) => ResolvableAlias;
const Alias = require("moleculer-web/src/alias.js") as AliasClass;

const gatewayMethods = ApiGateway.methods as unknown as {
  resolveAlias(this: { aliases: ResolvableAlias[] }, url: string, method?: string): ResolvedAlias<ResolvableAlias>;
  optimizeAliasesOrder(this: { aliases: ResolvableAlias[] }): void;
};

interface RouteLike {
  path: string;
  opts: { pathToRegexpOptions?: Record<string, unknown> };
}

const api: RouteLike = { path: "/api", opts: {} };
const strict: RouteLike = { path: "/strict", opts: { pathToRegexpOptions: { sensitive: true, trailing: false } } };
const prefix: RouteLike = { path: "/prefix", opts: { pathToRegexpOptions: { end: false } } };
const root: RouteLike = { path: "", opts: {} };

/** The suite's REST shape (the resources and their verbs), some odd aliases, and routes with other options. */
function aliasTable(): ResolvableAlias[] {
  const defs: [RouteLike, string][] = [];
  for (const resource of ["deployments", "namespaces", "volumes", "envs", "images"]) {
    const base = `/v1/k8s/${resource}`;
    defs.push(
      [api, `GET ${base}`],
      [api, `POST ${base}`],
      [api, `GET ${base}/:id`],
      [api, `PUT ${base}/:id`],
      [api, `PATCH ${base}/:id`],
      [api, `DELETE ${base}/:id`],
      [api, `GET ${base}/:id/status`],
      [api, `POST ${base}/:id/scale`],
    );
  }
  defs.push(
    [api, "GET /v1/k8s/deployments/:id/state"],
    [api, "GET /v1/k8s/deployments/:id/logs"],
    [api, "GET /v1/k8s/namespaces/available/:name"],
    [api, "GET /v1/k8s/images/resolve/:name"],
    [api, "POST /v1/k8s/namespaces/:id/members/:userID"],
    [api, "GET /health"],
    [api, "GET /ready"],
    [api, "GET /openapi.json"],
    [api, "/v1/any/:thing"],
    [api, "GET /files/*path"],
    [api, "GET /opt{/:x}/end"],
    [api, "GET /v1/k8s/:kind/:id"],
    [api, "GET /v1/k8s/deployments/:a-:b"],
    // Before GET /v1/k8s/images/:id in the list (fewer parameters), and not indexed: it must still win.
    [api, "GET /v1/k8s/images/*rest"],
    [api, "GET /grp{s}"],
    [strict, "GET /Case/:id"],
    [prefix, "GET /open"],
    [root, "GET /"],
  );
  const aliases = defs.map(([route, def]) => new Alias({}, route, def, "svc.action"));
  const holder = { aliases };
  gatewayMethods.optimizeAliasesOrder.call(holder);
  return holder.aliases;
}

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];
const SEGMENT_VALUES = ["abc123", "x", "", "%2F", "%zz", "é", "K", "a.b", "-", "deployments", "STATUS", "a-b", ".."];

function requestsFrom(aliases: ResolvableAlias[], count: number, random: () => number): string[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const urls: string[] = [];
  for (let n = 0; n < count; n++) {
    const template = pick(aliases).fullPath;
    let segments = template.split("/").map((segment) => {
      if (segment.startsWith(":") || segment.startsWith("*")) return pick(SEGMENT_VALUES);
      const roll = random();
      if (roll < 0.1) return segment.toUpperCase();
      if (roll < 0.15) return `${segment}x`;
      if (roll < 0.18) return pick(SEGMENT_VALUES);
      return segment;
    });
    const shape = random();
    if (shape < 0.1) segments = [...segments, pick(SEGMENT_VALUES)];
    else if (shape < 0.2) segments = segments.slice(0, -1);
    let url = segments.join("/").replace(/[{}]/g, "");
    const tail = random();
    if (tail < 0.1) url += "/";
    else if (tail < 0.13) url += "//";
    urls.push(url === "" ? "/" : url);
  }
  return urls;
}

describe("AliasIndex", () => {
  const aliases = aliasTable();
  const index = new AliasIndex(aliases);
  /** An answer, or the error thrown (a malformed escape in a parameter throws in moleculer-web's decoding). */
  const outcome = (resolve: () => ResolvedAlias<ResolvableAlias>): ResolvedAlias<ResolvableAlias> | Error => {
    try {
      return resolve();
    } catch (err) {
      return err as Error;
    }
  };
  const linear = (url: string, method: string) =>
    outcome(() => gatewayMethods.resolveAlias.call({ aliases }, url, method));

  it("answers what moleculer-web's resolveAlias answers, for 20,000 requests made from the aliases and bent", () => {
    // The same requests on every run.
    const random = seededRandom("alias-index");
    const describe = (r: ResolvedAlias<ResolvableAlias> | Error): string =>
      r instanceof Error
        ? `throws ${String(r)}`
        : r === false
          ? "none"
          : `${r.alias.fullPath} ${JSON.stringify(r.params)}`;
    const mismatches: string[] = [];
    let found = 0;
    for (const url of requestsFrom(aliases, 20_000, random)) {
      for (const method of METHODS) {
        const expected = linear(url, method);
        const actual = outcome(() => index.resolve(url, method));
        if (expected !== false && !(expected instanceof Error)) found++;
        const same =
          expected instanceof Error || actual instanceof Error || expected === false || actual === false
            ? describe(expected) === describe(actual)
            : expected.alias === actual.alias && describe(expected) === describe(actual);
        if (!same) mismatches.push(`${method} ${url}: ${describe(actual)}, moleculer-web ${describe(expected)}`);
      }
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
    // The requests reach aliases, not only misses.
    expect(found).toBeGreaterThan(20_000);
  });

  it("finds the deepest alias first, parameters decoded, as the list's order says", () => {
    const get = index.resolve("/api/v1/k8s/deployments/abc", "GET");
    expect(get !== false && get.alias.fullPath).toBe("/api/v1/k8s/deployments/:id");
    expect(get !== false && get.params).toEqual({ id: "abc" });
    const state = index.resolve("/API/V1/k8s/deployments/a%20b/state/", "GET");
    expect(state !== false && state.alias.fullPath).toBe("/api/v1/k8s/deployments/:id/state");
    expect(state !== false && state.params).toEqual({ id: "a b" });
    // An alias for any method, and one that is not indexed (a wildcard), still found in their turn.
    expect(index.resolve("/api/v1/any/thing", "DELETE")).not.toBe(false);
    const image = index.resolve("/api/v1/k8s/images/abc", "GET");
    expect(image !== false && image.alias.fullPath).toBe("/api/v1/k8s/images/*rest");
    expect(index.resolve("/api/grp", "GET")).not.toBe(false);
    expect(index.resolve("/api/grps", "GET")).not.toBe(false);
    const file = index.resolve("/api/files/a/b/c", "GET");
    expect(file !== false && file.params).toEqual({ path: "a/b/c" });
    // Options that keep a path to its own segments are indexed; `end: false` (a prefix) is not.
    expect(index.resolve("/strict/case/1", "GET")).toBe(false);
    expect(index.resolve("/strict/Case/1", "GET")).not.toBe(false);
    expect(index.resolve("/prefix/open/more/segments", "GET")).not.toBe(false);
    expect(index.resolve("/api/v1/k8s/deployments//", "GET")).toBe(false);
    const top = index.resolve("/", "GET");
    expect(top !== false && top.alias.fullPath).toBe("/");
  });

  it("describes only the list it was built from, at the length it had", () => {
    expect(index.describes(aliases)).toBe(true);
    expect(index.describes([...aliases])).toBe(false);
    const grown = [...aliases];
    const grownIndex = new AliasIndex(grown);
    grown.push(new Alias({}, api, "GET /late", "svc.late"));
    expect(grownIndex.describes(grown)).toBe(false);
  });
});
