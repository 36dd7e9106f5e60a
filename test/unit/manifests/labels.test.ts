import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import {
  CHECKSUM_ANNOTATION,
  ID_ANNOTATION,
  ID_LABEL,
  MANAGED_BY_LABEL,
  MANAGED_BY_SELECTOR,
  REVISION_ANNOTATION,
  generateAnnotations,
  generateLabels,
  getIdFromAnnotation,
  isManaged,
  recordSelector,
  sanitizeLabelValue,
  selectorLabels,
  type Component,
} from "../../../lib/manifests/labels.ts";
import { isValidLabelValue } from "../../../lib/manifests/validate.ts";
import { parseLabelSelector } from "../../../lib/kube/selector.ts";

describe("lib/manifests/labels recordSelector", () => {
  const components: Component[] = ["namespace", "volume", "env", "deployment", "image"];

  it("is the selector of a record's objects", () => {
    expect(recordSelector("deployment", "abc")).toBe(
      "app.kubernetes.io/managed-by=moleculer-k8s,app.kubernetes.io/component=deployment,moleculer-k8s/id=abc",
    );
  });

  it("selects what generateLabels gives that record's objects, and nothing of another record or component", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...components),
        fc.constantFrom(...components),
        fc.string({ minLength: 1, maxLength: 80 }),
        fc.string({ minLength: 1, maxLength: 80 }),
        (component, otherComponent, id, otherId) => {
          const matches = parseLabelSelector(recordSelector(component, id));
          expect(matches(generateLabels({ component, name: "app", id }))).toBe(true);
          const same = sanitizeLabelValue(otherId) === sanitizeLabelValue(id);
          expect(matches(generateLabels({ component, name: "app", id: otherId }))).toBe(same);
          expect(matches(generateLabels({ component: otherComponent, name: "app", id }))).toBe(
            otherComponent === component,
          );
        },
      ),
    );
  });
});

describe("lib/manifests/labels generateLabels", () => {
  it("gives every object the managed-by, part-of, name, instance, component and id labels", () => {
    expect(generateLabels({ component: "deployment", name: "my-app-php", id: "abc123" })).toEqual({
      "app.kubernetes.io/managed-by": "moleculer-k8s",
      "app.kubernetes.io/part-of": "moleculer-k8s",
      "app.kubernetes.io/name": "my-app-php",
      "app.kubernetes.io/instance": "my-app-php",
      "app.kubernetes.io/component": "deployment",
      "moleculer-k8s/id": "abc123",
    });
  });

  it("uses the instance when one is given", () => {
    const labels = generateLabels({ component: "volume", name: "data", instance: "data-shop", id: "1" });
    expect(labels["app.kubernetes.io/instance"]).toBe("data-shop");
    expect(labels["app.kubernetes.io/name"]).toBe("data");
  });

  it("exports the constants other services select and read by", () => {
    expect(MANAGED_BY_LABEL).toBe("app.kubernetes.io/managed-by");
    expect(MANAGED_BY_SELECTOR).toBe("app.kubernetes.io/managed-by=moleculer-k8s");
    expect(ID_LABEL).toBe("moleculer-k8s/id");
    expect(ID_ANNOTATION).toBe("moleculer-k8s/id");
    expect(CHECKSUM_ANNOTATION).toBe("moleculer-k8s/config-checksum");
  });

  it("sanitises values that are not valid label values (a Mongo-style id stays as is)", () => {
    const labels = generateLabels({ component: "env", name: "My App!", id: "507f1f77bcf86cd799439011" });
    expect(labels[ID_LABEL]).toBe("507f1f77bcf86cd799439011");
    expect(isValidLabelValue(labels["app.kubernetes.io/name"] ?? "")).toBe(true);
    expect(labels["app.kubernetes.io/name"]).toMatch(/^My-App-[0-9a-f]{8}$/);
  });
});

describe("lib/manifests/labels sanitizeLabelValue", () => {
  it("keeps a valid value unchanged", () => {
    expect(sanitizeLabelValue("my-app.v1_2")).toBe("my-app.v1_2");
    expect(sanitizeLabelValue("")).toBe("");
    expect(sanitizeLabelValue("a".repeat(63))).toBe("a".repeat(63));
  });

  it("truncates a long value to 63 characters with a hash suffix, the same way every time", () => {
    const long = "x".repeat(100);
    const once = sanitizeLabelValue(long);
    expect(once).toHaveLength(63);
    expect(once).toMatch(/^x{54}-[0-9a-f]{8}$/);
    expect(sanitizeLabelValue(long)).toBe(once);
  });

  it("keeps different long values different even when their first 54 characters match", () => {
    expect(sanitizeLabelValue(`${"x".repeat(70)}a`)).not.toBe(sanitizeLabelValue(`${"x".repeat(70)}b`));
  });

  it("trims non-alphanumeric ends and replaces invalid characters", () => {
    expect(sanitizeLabelValue("-_.abc/def._-")).toMatch(/^abc-def-[0-9a-f]{8}$/);
    expect(sanitizeLabelValue("///")).toMatch(/^[0-9a-f]{8}$/);
  });

  it("turns any string into a valid label value (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const v = sanitizeLabelValue(s);
        expect(isValidLabelValue(v)).toBe(true);
        expect(sanitizeLabelValue(s)).toBe(v);
        if (isValidLabelValue(s)) expect(v).toBe(s);
      }),
    );
  });
});

describe("lib/manifests/labels selectorLabels", () => {
  it("is the fixed subset managed-by, name, instance (no id, no component)", () => {
    expect(selectorLabels({ name: "my-app-php" })).toEqual({
      "app.kubernetes.io/managed-by": "moleculer-k8s",
      "app.kubernetes.io/name": "my-app-php",
      "app.kubernetes.io/instance": "my-app-php",
    });
  });

  it("is a subset of the full labels, so the selected pods match", () => {
    const labels = generateLabels({ component: "deployment", name: "web", id: "1" });
    expect(labels).toMatchObject(selectorLabels({ name: "web" }));
  });
});

describe("lib/manifests/labels annotations", () => {
  it("puts the exact id (and the revision when given) in the annotations", () => {
    expect(generateAnnotations({ id: "Id With Spaces/1" })).toEqual({ "moleculer-k8s/id": "Id With Spaces/1" });
    expect(generateAnnotations({ id: "x", revision: 4, extra: { a: "b" } })).toEqual({
      a: "b",
      [REVISION_ANNOTATION]: "4",
      "moleculer-k8s/id": "x",
    });
  });

  it("does not let an extra annotation override the id", () => {
    expect(generateAnnotations({ id: "x", extra: { [ID_ANNOTATION]: "other" } })[ID_ANNOTATION]).toBe("x");
  });

  it("round-trips the id through getIdFromAnnotation, even one no label could hold", () => {
    for (const id of ["abc", "507f1f77bcf86cd799439011", "with spaces and / slashes", "é".repeat(80)]) {
      expect(getIdFromAnnotation({ metadata: { annotations: generateAnnotations({ id }) } })).toBe(id);
    }
  });

  it("answers undefined for objects that are not ours", () => {
    expect(getIdFromAnnotation(undefined)).toBeUndefined();
    expect(getIdFromAnnotation(null)).toBeUndefined();
    expect(getIdFromAnnotation({})).toBeUndefined();
    expect(getIdFromAnnotation({ metadata: {} })).toBeUndefined();
    expect(getIdFromAnnotation({ metadata: { annotations: { other: "x" } } })).toBeUndefined();
    expect(getIdFromAnnotation({ metadata: { annotations: { [ID_ANNOTATION]: "" } } })).toBeUndefined();
  });

  it("isManaged is true only with the managed-by label", () => {
    expect(isManaged({ metadata: { labels: generateLabels({ component: "volume", name: "v", id: "1" }) } })).toBe(true);
    expect(isManaged({ metadata: { labels: { [MANAGED_BY_LABEL]: "helm" } } })).toBe(false);
    expect(isManaged({})).toBe(false);
  });
});
