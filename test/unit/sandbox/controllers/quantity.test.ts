import { describe, it, expect } from "@jest/globals";
import {
  addQuantities,
  canonicalQuantity,
  compareQuantities,
  formatQuantity,
  parseQuantity,
  quantityValue,
  tryParseQuantity,
} from "../../../../lib/sandbox/controllers/quantity.ts";

describe("sandbox quantities", () => {
  it("parses cpu and memory the way apimachinery does", () => {
    expect(parseQuantity("500m").milli).toBe(500n);
    expect(parseQuantity("1").milli).toBe(1000n);
    expect(parseQuantity("1.5").milli).toBe(1500n);
    expect(parseQuantity("0.1").milli).toBe(100n);
    expect(parseQuantity("1Ki").milli).toBe(1024_000n);
    expect(parseQuantity("128Mi").milli).toBe(128n * 1024n * 1024n * 1000n);
    expect(parseQuantity("1.5Gi").milli).toBe(3n * 512n * 1024n * 1024n * 1000n);
    expect(parseQuantity("2k").milli).toBe(2_000_000n);
    expect(parseQuantity("1M").milli).toBe(1_000_000_000n);
    expect(parseQuantity("1G").milli).toBe(1_000_000_000_000n);
    expect(parseQuantity(3).milli).toBe(3000n);
    expect(parseQuantity("1e3").milli).toBe(1_000_000n);
  });

  it("rounds sub-milli values up, as MilliValue() does", () => {
    expect(parseQuantity("1n").milli).toBe(1n);
    expect(parseQuantity("4223421n").milli).toBe(5n);
    expect(parseQuantity("1500u").milli).toBe(2n);
  });

  it("rejects what is not a quantity", () => {
    expect(tryParseQuantity("abc")).toBeUndefined();
    expect(tryParseQuantity("1Xi")).toBeUndefined();
    expect(tryParseQuantity("")).toBeUndefined();
    expect(() => parseQuantity("ten")).toThrow(/quantities must match/);
  });

  it("writes quantities in kube-apiserver's canonical form", () => {
    expect(canonicalQuantity("1000m")).toBe("1");
    expect(canonicalQuantity("1500m")).toBe("1500m");
    expect(canonicalQuantity("0.5")).toBe("500m");
    expect(canonicalQuantity("2048Mi")).toBe("2Gi");
    expect(canonicalQuantity("1024Ki")).toBe("1Mi");
    expect(canonicalQuantity("1536")).toBe("1536");
    expect(canonicalQuantity("2000")).toBe("2k");
    expect(canonicalQuantity("1G")).toBe("1G");
    expect(canonicalQuantity("0")).toBe("0");
    expect(canonicalQuantity("0Mi")).toBe("0");
    expect(canonicalQuantity("512Mi")).toBe("512Mi");
  });

  it("adds and compares exactly, keeping the first operand's format", () => {
    const sum = addQuantities(parseQuantity("256Mi"), parseQuantity("768Mi"));
    expect(formatQuantity(sum)).toBe("1Gi");
    expect(formatQuantity(addQuantities(parseQuantity("250m"), parseQuantity("750m")))).toBe("1");
    expect(compareQuantities(parseQuantity("1Gi"), parseQuantity("1024Mi"))).toBe(0);
    expect(compareQuantities(parseQuantity("1G"), parseQuantity("1Gi"))).toBe(-1);
    expect(compareQuantities(parseQuantity("1100m"), parseQuantity("1"))).toBe(1);
    expect(quantityValue(parseQuantity("1500m"))).toBe(2n);
  });
});
