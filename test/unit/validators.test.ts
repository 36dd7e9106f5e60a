import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { isValidMountPath } from "../../lib/manifests/validate.ts";
import {
  ABSOLUTE_PATH,
  DNS_1123_LABEL,
  IANA_SVC_NAME,
  ENV_VAR_NAME,
  IMAGE_DIGEST,
  isClusterOwnedNamespace,
  isDnsLabel,
  isDnsSubdomain,
  isDomainAllowed,
  isDomainName,
  isOthersPersonalNamespace,
  isReservedNamespace,
  namespaceNameProblem,
  personalNamespaceName,
  routeSpacesOf,
} from "../../lib/validators.ts";

const label63 = "a".repeat(63);
const label64 = "a".repeat(64);

describe("lib/validators isDnsLabel", () => {
  it.each(["a", "0", "abc", "a-b", "a--b", "1abc", "abc1", "my-app-2", label63, "0-0"])("accepts %p", (value) => {
    expect(isDnsLabel(value)).toBe(true);
  });
  it.each([
    ["empty", ""],
    ["upper case", "Abc"],
    ["upper case inside", "aBc"],
    ["leading hyphen", "-abc"],
    ["trailing hyphen", "abc-"],
    ["dot", "a.b"],
    ["underscore", "a_b"],
    ["space", "a b"],
    ["64 characters", label64],
    ["unicode", "ümlaut"],
    ["slash", "a/b"],
    ["trailing newline", "abc\n"],
  ])("refuses %s", (_why, value) => {
    expect(isDnsLabel(value)).toBe(false);
  });
  it("agrees with the Kubernetes rule on random strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."ab09-.A_"), maxLength: 70 }), (s) => {
        const expected = s.length >= 1 && s.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s);
        expect(isDnsLabel(s)).toBe(expected);
      }),
    );
  });
  it("exports the pattern used in param schemas", () => {
    expect(DNS_1123_LABEL.test("ok-name")).toBe(true);
    expect(DNS_1123_LABEL.test("Not-OK")).toBe(false);
  });
});

describe("lib/validators isDnsSubdomain", () => {
  it.each(["a", "a.b", "my-app.config", "a-1.b-2.c-3", `${label63}.${label63}`])("accepts %p", (value) => {
    expect(isDnsSubdomain(value)).toBe(true);
  });
  it.each([
    ["empty", ""],
    ["leading dot", ".a"],
    ["trailing dot", "a."],
    ["double dot", "a..b"],
    ["upper case", "A.b"],
    ["hyphen at label end", "a-.b"],
    ["hyphen at label start", "a.-b"],
    ["label longer than 63", `${label64}.a`],
    ["longer than 253", Array.from({ length: 5 }, () => label63).join(".")],
  ])("refuses %s", (_why, value) => {
    expect(isDnsSubdomain(value)).toBe(false);
  });
});

describe("lib/validators isDomainName", () => {
  it.each(["example.com", "apps.example.com", "my-app.nginx.example.com", "a.io", "x1.y2.z3", "xn--bcher-kva.example"])(
    "accepts %p",
    (value) => {
      expect(isDomainName(value)).toBe(true);
    },
  );
  it.each([
    ["a single label", "localhost"],
    ["an IPv4 address", "10.0.0.1"],
    ["an all-digit TLD", "example.123"],
    ["upper case", "Example.com"],
    ["a trailing dot", "example.com."],
    ["a leading dot", ".example.com"],
    ["a wildcard", "*.example.com"],
    ["an underscore", "my_app.example.com"],
    ["a port", "example.com:80"],
    ["a scheme", "http://example.com"],
    ["a path", "example.com/x"],
    ["a label over 63", `${label64}.com`],
    ["over 253 characters", `${Array.from({ length: 4 }, () => label63).join(".")}.com`],
    ["empty", ""],
    ["a hyphen at a label end", "a-.example.com"],
  ])("refuses %s", (_why, value) => {
    expect(isDomainName(value)).toBe(false);
  });
});

describe("lib/validators isDomainAllowed", () => {
  it("allows any name when the list is empty", () => {
    expect(isDomainAllowed("whatever.example.org", [])).toBe(true);
  });
  it("allows the listed domains and their subdomains", () => {
    const allowed = ["example.com", "apps.test"];
    expect(isDomainAllowed("example.com", allowed)).toBe(true);
    expect(isDomainAllowed("a.b.example.com", allowed)).toBe(true);
    expect(isDomainAllowed("x.apps.test", allowed)).toBe(true);
  });
  it("refuses look-alikes and other domains", () => {
    const allowed = ["example.com"];
    expect(isDomainAllowed("badexample.com", allowed)).toBe(false);
    expect(isDomainAllowed("example.com.evil.org", allowed)).toBe(false);
    expect(isDomainAllowed("example.org", allowed)).toBe(false);
    expect(isDomainAllowed("com", allowed)).toBe(false);
  });
  it("accepts list entries written as wildcards, with a trailing dot or in upper case", () => {
    expect(isDomainAllowed("a.example.com", ["*.example.com"])).toBe(true);
    expect(isDomainAllowed("a.example.com", ["example.com."])).toBe(true);
    expect(isDomainAllowed("a.example.com", ["EXAMPLE.COM"])).toBe(true);
  });
});

describe("lib/validators reserved namespaces", () => {
  it.each([
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "kube-anything",
    "moleculer-k8s",
    "moleculer-k8s-builds",
    "moleculer-k8s-apps",
  ])("reserves %p", (name) => {
    expect(isReservedNamespace(name)).toBe(true);
    expect(namespaceNameProblem(name)).toMatch(/reserved/);
  });
  it.each(["default", "kube", "kubernetes", "my-kube-app", "moleculer-k8s2", "moleculer"])("allows %p", (name) => {
    expect(isReservedNamespace(name)).toBe(false);
    expect(namespaceNameProblem(name)).toBeUndefined();
  });
  it("marks the cluster's own namespaces so that the suite never deletes them", () => {
    expect(isClusterOwnedNamespace("default")).toBe(true);
    expect(isClusterOwnedNamespace("kube-system")).toBe(true);
    expect(isClusterOwnedNamespace("my-app")).toBe(false);
  });
  it("explains what is wrong with a bad name", () => {
    expect(namespaceNameProblem("")).toMatch(/empty/);
    expect(namespaceNameProblem(label64)).toMatch(/63/);
    expect(namespaceNameProblem("My-App")).toMatch(/DNS-1123/);
    expect(namespaceNameProblem("my_app")).toMatch(/DNS-1123/);
  });
});

describe("lib/validators other patterns", () => {
  it("checks port names as IANA service names", () => {
    for (const ok of ["http", "php", "h2c", "a", "web-1", "abcdefghijklmno"]) expect(IANA_SVC_NAME.test(ok)).toBe(true);
    for (const bad of ["", "-http", "http-", "ht--tp", "HTTP", "123", "my_port"]) {
      expect(IANA_SVC_NAME.test(bad)).toBe(false);
    }
  });
  it("checks environment variable names", () => {
    for (const ok of ["PHP_ROOT_PASSWORD", "_x", "a.b", "A-1"]) expect(ENV_VAR_NAME.test(ok)).toBe(true);
    for (const bad of ["", "1ABC", "A B", "A=B", "A$"]) expect(ENV_VAR_NAME.test(bad)).toBe(false);
  });
  it("checks sha256 digests", () => {
    expect(IMAGE_DIGEST.test(`sha256:${"a".repeat(64)}`)).toBe(true);
    expect(IMAGE_DIGEST.test(`sha256:${"a".repeat(63)}`)).toBe(false);
    expect(IMAGE_DIGEST.test(`sha256:${"A".repeat(64)}`)).toBe(false);
    expect(IMAGE_DIGEST.test(`md5:${"a".repeat(64)}`)).toBe(false);
  });
});

describe("lib/validators routeSpacesOf", () => {
  it("gives each label after the first with the domain after it, nearest first", () => {
    expect(routeSpacesOf("a.b.shop.apps.example.com")).toEqual([
      { namespace: "b", domain: "shop.apps.example.com" },
      { namespace: "shop", domain: "apps.example.com" },
      { namespace: "apps", domain: "example.com" },
      { namespace: "example", domain: "com" },
    ]);
    expect(routeSpacesOf("*.Shop.example.com.")).toEqual([
      { namespace: "shop", domain: "example.com" },
      { namespace: "example", domain: "com" },
    ]);
    expect(routeSpacesOf("example.com")).toEqual([]);
    expect(routeSpacesOf("localhost")).toEqual([]);
  });
});

describe("lib/validators personal namespaces", () => {
  it("names a user's personal namespace user-<id>, with a hash when the id had to change or is long", () => {
    expect(personalNamespaceName("alice")).toBe("user-alice");
    expect(personalNamespaceName("Alice@Example")).toMatch(/^user-alice-example-[0-9a-f]{8}$/);
    expect(personalNamespaceName("Alice@Example")).not.toBe(personalNamespaceName("alice@example"));
    expect(personalNamespaceName("x".repeat(80))).toHaveLength(63);
  });

  it("keeps every user-* name but the caller's own", () => {
    expect(isOthersPersonalNamespace("user-carol", "bob")).toBe(true);
    expect(isOthersPersonalNamespace("user-anything", "bob")).toBe(true);
    expect(isOthersPersonalNamespace("user-bob", "bob")).toBe(false);
    expect(isOthersPersonalNamespace(personalNamespaceName("Bob@x"), "Bob@x")).toBe(false);
    expect(isOthersPersonalNamespace("users", "bob")).toBe(false);
    expect(isOthersPersonalNamespace("team-user-carol", "bob")).toBe(false);
  });
});

describe("lib/validators ABSOLUTE_PATH", () => {
  it.each(["/", "/var/www", "/a..b", "/...", "/a/./b", "//x"])("accepts %p", (value) => {
    expect(ABSOLUTE_PATH.test(value)).toBe(true);
  });
  it.each(["/../etc", "/a/../b", "/a/..", "/..", "/a:b", "relative", "", "/a\0b"])("refuses %p", (value) => {
    expect(ABSOLUTE_PATH.test(value)).toBe(false);
  });
  it("agrees with the render check isValidMountPath on any path made of /, ., :, a and NUL", () => {
    const path = fc.array(fc.constantFrom("/", ".", "..", ":", "a", "\0"), { maxLength: 12 }).map((p) => p.join(""));
    fc.assert(
      fc.property(path, (p) => ABSOLUTE_PATH.test(p) === isValidMountPath(p)),
      { numRuns: 5000 },
    );
  });
});
