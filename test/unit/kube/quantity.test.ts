import { describe, it, expect } from "@jest/globals";
import { cpuMillicores, memoryBytes, parseQuantity, toMi } from "../../../lib/kube/quantity.ts";

describe("quantities", () => {
  it.each([
    ["250m", 250],
    ["1", 1000],
    ["1.5", 1500],
    ["250000n", 0.25],
    ["1500u", 1.5],
    ["0", 0],
  ])("cpu %s is %d millicores", (q, expected) => {
    expect(cpuMillicores(q)).toBe(expected);
  });

  it.each([
    ["34Mi", 34 * 2 ** 20],
    ["1Gi", 2 ** 30],
    ["1000Ki", 1000 * 1024],
    ["123456", 123456],
    ["1M", 1e6],
    ["1G", 1e9],
    ["12e3", 12000],
  ])("memory %s is %d bytes", (q, expected) => {
    expect(memoryBytes(q)).toBe(expected);
  });

  it("answers NaN for something that is not a quantity", () => {
    expect(parseQuantity("lots")).toBeNaN();
    expect(parseQuantity("12Xi")).toBeNaN();
  });

  it("shows bytes as MiB with two decimals", () => {
    expect(toMi(34 * 2 ** 20)).toBe(34);
    expect(toMi(1_500_000)).toBe(1.43);
  });
});
