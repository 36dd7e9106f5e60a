import { describe, it, expect } from "@jest/globals";
import {
  SAFE_ALPHABET,
  fnv32a,
  podTemplateHash,
  randomSuffix,
  seededRandom,
  stableStringify,
} from "../../../../lib/sandbox/controllers/hash.ts";

const template = {
  metadata: { labels: { app: "web" } },
  spec: { containers: [{ name: "nginx", image: "nginx:1.27" }] },
};

describe("sandbox hashes", () => {
  it("computes FNV-32a", () => {
    expect(fnv32a("")).toBe(0x811c9dc5);
    expect(fnv32a("a")).toBe(0xe40c292c);
    expect(fnv32a("foobar")).toBe(0xbf9cf968);
  });

  it("hashes a pod template to a stable name-safe pod-template-hash", () => {
    const hash = podTemplateHash(template);
    expect(hash).toMatch(new RegExp(`^[${SAFE_ALPHABET}]{6,10}$`));
    expect(podTemplateHash(structuredClone(template))).toBe(hash);
  });

  it("ignores key order and the pod-template-hash label itself", () => {
    const reordered = {
      spec: { containers: [{ image: "nginx:1.27", name: "nginx" }] },
      metadata: { labels: { app: "web" } },
    };
    expect(podTemplateHash(reordered)).toBe(podTemplateHash(template));
    const labelled = structuredClone(template) as typeof template & { metadata: { labels: Record<string, string> } };
    labelled.metadata.labels["pod-template-hash"] = "abc";
    expect(podTemplateHash(labelled)).toBe(podTemplateHash(template));
  });

  it("treats nulls and empty objects like absent fields, as Go's zero values", () => {
    const fromKubectl = {
      metadata: { creationTimestamp: null, labels: { app: "web" } },
      spec: { containers: [{ name: "nginx", image: "nginx:1.27", resources: {} }] },
    };
    expect(podTemplateHash(fromKubectl)).toBe(podTemplateHash(template));
  });

  it("changes with the template and with the collision count", () => {
    const restarted = structuredClone(template) as Record<string, unknown> & typeof template;
    (restarted.metadata as Record<string, unknown>).annotations = {
      "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z",
    };
    expect(podTemplateHash(restarted)).not.toBe(podTemplateHash(template));
    expect(podTemplateHash(template, 1)).not.toBe(podTemplateHash(template));
  });

  it("writes JSON with sorted keys and random suffixes from the safe alphabet", () => {
    expect(stableStringify({ b: 1, a: [{ d: 2, c: undefined }] })).toBe('{"a":[{"d":2}],"b":1}');
    expect(randomSuffix()).toMatch(new RegExp(`^[${SAFE_ALPHABET}]{5}$`));
  });

  it("makes seeded random sequences that repeat for the same seed", () => {
    const a = seededRandom("pod-1");
    const b = seededRandom("pod-1");
    const xs = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(seededRandom("pod-2")()).not.toBe(xs[0]);
  });
});
