import { describe, expect, it } from "@jest/globals";
import { selectServices } from "../../scripts/start.ts";

const all = ["api", "deployments", "envs", "images", "kube", "namespaces", "volumes"];

describe("selectServices (SERVICES)", () => {
  it("runs every service when SERVICES is not set", () => {
    expect(selectServices(all, undefined)).toEqual(all);
  });
  it("takes short names and file names", () => {
    expect(selectServices(all, ["api"])).toEqual(["api"]);
    expect(selectServices(all, ["namespaces.service.ts", "images"])).toEqual(["namespaces", "images"]);
  });
  it("takes globs and exclusions", () => {
    expect(selectServices(all, ["*", "!api"])).toEqual(all.filter((s) => s !== "api"));
    expect(selectServices(all, ["!api", "!kube"])).toEqual(all.filter((s) => s !== "api" && s !== "kube"));
    expect(selectServices(all, ["*s"])).toEqual(["deployments", "envs", "images", "namespaces", "volumes"]);
  });
  it("refuses a name that matches nothing, naming it", () => {
    expect(() => selectServices(all, ["gateway"])).toThrow("'gateway' matches no service");
  });
});
