/**
 * `npm run sandbox`: starts the embedded Kubernetes API server alone (SANDBOX_PORT or a free port, 127.0.0.1),
 * writes .sandbox/kubeconfig, prints the kubectl command to use, and stops cleanly on SIGINT/SIGTERM.
 * SANDBOX_STATE=<file> keeps the objects across restarts.
 */
import { resolve } from "node:path";
import { readConfig } from "../lib/config.ts";
import { startSandbox } from "../lib/sandbox/index.ts";

const config = readConfig(process.env);
const port = config.sandboxPort;
const kubeconfigPath = resolve(config.sandboxKubeconfig);
const stateFile = process.env.SANDBOX_STATE;

const sandbox = await startSandbox({
  port,
  ...(process.env.SANDBOX_TOKEN === undefined ? {} : { token: process.env.SANDBOX_TOKEN }),
  ...(stateFile === undefined || stateFile === "" ? {} : { stateFile: resolve(stateFile) }),
  log: (line) => console.error(line),
});
await sandbox.writeKubeconfig(kubeconfigPath);
console.log(`sandbox Kubernetes API server listening on ${sandbox.url}`);
console.log(`kubeconfig written to ${kubeconfigPath}`);
console.log(`try: kubectl --kubeconfig ${kubeconfigPath} get all -A`);

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping the sandbox`);
  sandbox.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
