import { describe, expect, it } from "@jest/globals";
import type { DeploymentInput } from "../../../lib/manifests/deployment.ts";
import {
  CONFIG_MAP_MAX_BYTES,
  MAX_DEPLOYMENT_NAME_LENGTH,
  deploymentInputIssues,
  isDns1035Label,
  isValidConfigKey,
  isValidDeploymentName,
  isValidEnvName,
  isValidHost,
  isValidLabelValue,
  isValidMountPath,
  isValidPort,
  isValidPortName,
  isValidSubPath,
  quotaIssues,
} from "../../../lib/manifests/validate.ts";
import { NGINX_DEPLOYMENT, PHP_DEPLOYMENT } from "./fixtures.ts";

function each(values: readonly string[], check: (v: string) => boolean): [string, boolean][] {
  return values.map((v) => [v, check(v)]);
}
function all(values: readonly string[], result: boolean): [string, boolean][] {
  return values.map((v) => [v, result]);
}

describe("lib/manifests/validate names", () => {
  it("deployment names: RFC 1035 labels short enough for <name>-service", () => {
    expect(MAX_DEPLOYMENT_NAME_LENGTH).toBe(55);
    const ok = ["my-app-php", "a", `a${"b".repeat(54)}`];
    const bad = ["1app", "-a", "a-", "My-App", "a_b", "", `a${"b".repeat(55)}`];
    expect(each(ok, isValidDeploymentName)).toEqual(all(ok, true));
    expect(each(bad, isValidDeploymentName)).toEqual(all(bad, false));
    expect(isDns1035Label(`a${"b".repeat(62)}`)).toBe(true);
    expect(isDns1035Label(`a${"b".repeat(63)}`)).toBe(false);
  });

  it("config file names: [-._a-zA-Z0-9]+, not ., not starting with .. (the kubelet's ..data), at most 253", () => {
    const ok = ["default.conf", ".env", "php.ini", "A_b-c.d", "a..b", "x".repeat(253)];
    const bad = [".", "..", "..data", "...", "", "a/b", "a b", "x".repeat(254), "ü.conf"];
    expect(each(ok, isValidConfigKey)).toEqual(all(ok, true));
    expect(each(bad, isValidConfigKey)).toEqual(all(bad, false));
  });

  it("subPaths: relative, without a '..' element (kube-apiserver's validateLocalDescendingPath)", () => {
    const ok = ["conf", "a/b", "a/..b", "..a", "a.."];
    const bad = ["", "/abs", "..", "../etc", "a/../../b", "a/..", "a\\..\\b"];
    expect(each(ok, isValidSubPath)).toEqual(all(ok, true));
    expect(each(bad, isValidSubPath)).toEqual(all(bad, false));
  });

  it("env var names: [-._a-zA-Z][-._a-zA-Z0-9]*", () => {
    const ok = ["PHP_ROOT_PASSWORD", "_x", "a.b-c", "lower"];
    const bad = ["1ABC", "", "A B", "A=B", "Ä"];
    expect(each(ok, isValidEnvName)).toEqual(all(ok, true));
    expect(each(bad, isValidEnvName)).toEqual(all(bad, false));
  });

  it("vHosts: lower-case DNS subdomains, '*.' wildcard allowed, no IPs", () => {
    const ok = ["my-app.nginx.example.com", "*.example.com", "localhost", "a1.b2"];
    const bad = [
      "*",
      "*.",
      "a.*.com",
      "Example.com",
      "10.0.0.1",
      "-a.com",
      "a..com",
      "a_b.com",
      "",
      `${"a".repeat(64)}.com`,
    ];
    expect(each(ok, isValidHost)).toEqual(all(ok, true));
    expect(each(bad, isValidHost)).toEqual(all(bad, false));
  });

  it("ports 1..65535 and IANA port names", () => {
    expect([1, 80, 9000, 65535].map(isValidPort)).toEqual([true, true, true, true]);
    expect([0, -1, 65536, 1.5, Number.NaN].map(isValidPort)).toEqual([false, false, false, false, false]);
    const ok = ["http", "php", "a", "port-9000", "a1-b2"];
    const bad = ["", "HTTP", "a--b", "-a", "1234", "a-very-long-name-x"];
    expect(each(ok, isValidPortName)).toEqual(all(ok, true));
    expect(each(bad, isValidPortName)).toEqual(all(bad, false));
  });

  it("label values and mount paths", () => {
    expect(each(["", "a", "a.b_c-d", "x".repeat(63)], isValidLabelValue)).toEqual(
      all(["", "a", "a.b_c-d", "x".repeat(63)], true),
    );
    expect(each(["-a", "a-", "a b", "x".repeat(64)], isValidLabelValue)).toEqual(
      all(["-a", "a-", "a b", "x".repeat(64)], false),
    );
    expect(each(["/var/www/html", "/etc/nginx/conf.d/"], isValidMountPath)).toEqual(
      all(["/var/www/html", "/etc/nginx/conf.d/"], true),
    );
    expect(each(["var/www", "/a/../b", "/a:b", ""], isValidMountPath)).toEqual(
      all(["var/www", "/a/../b", "/a:b", ""], false),
    );
  });
});

describe("lib/manifests/validate deploymentInputIssues", () => {
  it("finds nothing wrong with the reference example's deployments", () => {
    expect(deploymentInputIssues(PHP_DEPLOYMENT)).toEqual([]);
    expect(deploymentInputIssues(NGINX_DEPLOYMENT)).toEqual([]);
  });

  it("names every field the cluster would reject", () => {
    const input: DeploymentInput = {
      ...NGINX_DEPLOYMENT,
      name: "9-bad",
      namespace: "Bad",
      replicas: -1,
      image: { ...NGINX_DEPLOYMENT.image, ports: [{ port: 80 }, { port: 80, protocol: "TCP" }, { port: 0 }] },
      vHosts: ["10.0.0.1"],
      volumes: [
        { name: "data", type: "persistentVolumeClaim", mountPath: "/x", persistentVolumeClaim: { claimName: "ok" } },
        {
          name: "data",
          type: "persistentVolumeClaim",
          mountPath: "/x",
          persistentVolumeClaim: { claimName: "Bad_Claim" },
        },
      ],
      configMap: { name: "data", data: { "a/b": "x" }, mountPath: "relative" },
      resources: { limits: { cpu: 100 }, requests: { cpu: 200, memory: -1 } },
    };
    const issues = deploymentInputIssues(input);
    expect(issues.map((i) => i.field)).toEqual([
      "name",
      "namespace",
      "replicas",
      "image.ports[1].port",
      "image.ports[2].port",
      "vHosts[0]",
      "volumes[1].name",
      "volumes[1].mountPath",
      "volumes[1].persistentVolumeClaim.claimName",
      "configMap.name",
      "configMap.data.a/b",
      "configMap.mountPath",
      "resources.requests.memory",
      "resources.requests.cpu",
    ]);
    for (const issue of issues) expect(issue).toMatchObject({ type: "invalid", message: expect.any(String) });
  });

  it("rejects a config file mounted where a volume is, and config files over 1 MiB", () => {
    const clash: DeploymentInput = {
      ...NGINX_DEPLOYMENT,
      volumes: [
        {
          name: "conf",
          type: "persistentVolumeClaim",
          mountPath: "/etc/nginx/conf.d/default.conf",
          persistentVolumeClaim: { claimName: "c" },
        },
      ],
    };
    expect(deploymentInputIssues(clash)).toEqual([
      {
        type: "invalid",
        field: "configMap.data.default.conf",
        message: "is mounted where a volume is",
        actual: "/etc/nginx/conf.d/default.conf",
      },
    ]);
    const big: DeploymentInput = {
      ...NGINX_DEPLOYMENT,
      configMap: { name: "c", data: { "a.conf": "x".repeat(CONFIG_MAP_MAX_BYTES) } },
    };
    expect(deploymentInputIssues(big).map((i) => i.field)).toEqual(["configMap.data"]);
  });

  it("rejects a climbing subPath, config files the pod would never see, and a config named like the env values' ConfigMap", () => {
    const volume = NGINX_DEPLOYMENT.volumes[0];
    if (volume === undefined) throw new Error("fixture without a volume");
    const climbing: DeploymentInput = { ...NGINX_DEPLOYMENT, volumes: [{ ...volume, subPath: "../../etc" }] };
    expect(deploymentInputIssues(climbing)).toEqual([
      {
        type: "invalid",
        field: "volumes[0].subPath",
        message: "must be a relative path without '..' elements",
        actual: "../../etc",
      },
    ]);
    const { config: _config, ...imageWithoutConfig } = NGINX_DEPLOYMENT.image;
    const unmounted: DeploymentInput = { ...NGINX_DEPLOYMENT, image: imageWithoutConfig };
    expect(deploymentInputIssues(unmounted)).toEqual([
      { type: "invalid", field: "configMap.mountPath", message: "is required: the image gives no config mount path" },
    ]);
    const cm = NGINX_DEPLOYMENT.configMap;
    if (cm === undefined) throw new Error("fixture without a configMap");
    expect(deploymentInputIssues({ ...unmounted, configMap: { ...cm, mountPath: "/etc/app" } })).toEqual([]);
    // `<deployment>-env` is the ConfigMap of the env values.
    expect(deploymentInputIssues({ ...NGINX_DEPLOYMENT, configMap: { ...cm, name: "env" } })).toEqual([
      {
        type: "invalid",
        field: "configMap.name",
        message: "makes '<deployment>-env', the ConfigMap of the env values",
        actual: "env",
      },
    ]);
  });

  it("rejects hosts for an image without a TCP port (nothing to route to)", () => {
    const portless: DeploymentInput = { ...NGINX_DEPLOYMENT, image: { ...NGINX_DEPLOYMENT.image, ports: [] } };
    expect(deploymentInputIssues(portless)).toEqual([
      {
        type: "invalid",
        field: "vHosts",
        message: "must be empty: the image has no TCP port to route to",
        actual: ["my-app.nginx.example.com"],
      },
    ]);
    expect(deploymentInputIssues({ ...portless, vHosts: [] })).toEqual([]);
  });

  it("rejects a request over the image's limit when the deployment sets no limit of its own", () => {
    const image = { ...NGINX_DEPLOYMENT.image, resources: { limits: { cpu: 500, memory: 256 } } };
    const over: DeploymentInput = { ...NGINX_DEPLOYMENT, image, resources: { requests: { cpu: 900, memory: 256 } } };
    expect(deploymentInputIssues(over)).toEqual([
      {
        type: "invalid",
        field: "resources.requests.cpu",
        message: "must not exceed the image's limits.cpu, 500; set resources.limits.cpu too",
        actual: 900,
      },
    ]);
    // Its own limit decides (checked against the request on its own), and the image's requests are the image's.
    expect(deploymentInputIssues({ ...over, resources: { requests: { cpu: 900 }, limits: { cpu: 900 } } })).toEqual([]);
    expect(deploymentInputIssues({ ...over, resources: { limits: { cpu: 100 } } })).toEqual([]);
  });
});

describe("quotaIssues", () => {
  const quota = { cpu: 4000, memory: 8192, pods: 20 };
  const image = { resources: { limits: { cpu: 500, memory: 256 } } };

  it("finds nothing wrong with what fits an empty namespace, nor without a quota or resources", () => {
    expect(quotaIssues({ replicas: 8, image }, quota)).toEqual([]);
    expect(quotaIssues({ replicas: 1000, image }, undefined)).toEqual([]);
    expect(quotaIssues({ replicas: 20, image: {} }, quota)).toEqual([]);
  });

  it("names the resource of one pod over the quota, the record's over the image's", () => {
    expect(quotaIssues({ replicas: 1, image, resources: { limits: { cpu: 1e12 } } }, quota)).toEqual([
      {
        type: "overQuota",
        field: "resources.limits.cpu",
        message:
          "The 'resources.limits.cpu' field must be at most the namespace's cpu quota, 4000 millicores; 1000000000000 is more (one pod could never start).",
        actual: 1e12,
      },
    ]);
    expect(quotaIssues({ replicas: 1, image: {}, resources: { requests: { memory: 9000 } } }, quota)).toEqual([
      expect.objectContaining({ field: "resources.requests.memory", actual: 9000 }),
    ]);
    // Exactly the quota fits.
    expect(quotaIssues({ replicas: 1, image, resources: { limits: { cpu: 4000 } } }, quota)).toEqual([]);
  });

  it("names replicas when the pods together, or their number, go over it", () => {
    expect(quotaIssues({ replicas: 9, image }, quota)).toEqual([
      {
        type: "overQuota",
        field: "replicas",
        message:
          "The 'replicas' field asks for 9 pods of 500 millicores cpu each, more than the namespace's cpu quota of 4000 millicores.",
        actual: 9,
      },
    ]);
    expect(quotaIssues({ replicas: 21, image: {} }, quota)).toEqual([
      expect.objectContaining({
        field: "replicas",
        message: "The 'replicas' field must be at most the namespace's pod quota, 20.",
      }),
    ]);
  });
});
