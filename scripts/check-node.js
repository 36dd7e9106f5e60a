// Every npm script starts here: the suite needs Node 24 (moleculer 0.15 and @kubernetes/client-node 2.x refuse
// older ones). `npm run` puts node_modules/.bin first on PATH, where the `node` devDependency installs Node 24;
// calling a tool directly (./node_modules/.bin/jest) would run the system Node instead.
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  console.error(
    `moleculer-k8s needs Node 24 or newer; this is Node ${process.versions.node} (${process.execPath}).\n` +
      "Run it through npm (npm start, npm test, npm run ...), which uses the Node 24 installed by `npm ci`.",
  );
  process.exit(1);
}
