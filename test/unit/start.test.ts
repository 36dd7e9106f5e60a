import { describe, expect, it } from "@jest/globals";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SERVICE_NAMES, selectServices } from "../../services/index.ts";

const all = ["api", "deployments", "envs", "images", "kube", "namespaces", "volumes"];
const SERVICES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../services");

describe("services/index.ts", () => {
  it("lists every *.service.ts file of services/, so npm start and the build load each", async () => {
    const files = (await readdir(SERVICES_DIR)).filter((f) => f.endsWith(".service.ts"));
    expect(SERVICE_NAMES).toEqual(files.map((f) => f.slice(0, -".service.ts".length)).sort());
    expect(SERVICE_NAMES).toEqual(all);
  });
});

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
