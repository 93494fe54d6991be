// Validate custom resources against their operators' published schemas (issue #22).
// Usage: node crds.mjs MODELS_DIR < objects.json  →  [{"name": "Kind/name", "errors": [...]}] on stdout.
// MODELS_DIR holds node_modules with the @kubernetes-models packages below (make: .scout/crd-models);
// its classes validate with the CRDs' OpenAPI schemas, every error reported. A kind without a
// published schema here is an error of its own, never a pass.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const PACKAGES = {
  "kafka.strimzi.io": "@kubernetes-models/strimzi-kafka-operator",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};
const [modelsDir] = process.argv.slice(2);
const objects = JSON.parse(readFileSync(0, "utf8"));
const report = [];
for (const obj of objects) {
  const [group, version] = obj.apiVersion.split("/");
  const name = `${obj.kind}/${obj.metadata?.name}`;
  const pkg = PACKAGES[group];
  if (!pkg) {
    report.push({ name, errors: [`no published schema for ${obj.apiVersion} here`] });
    continue;
  }
  const file = `${modelsDir}/node_modules/${pkg}/${group}/${version}/${obj.kind}.js`;
  let Model;
  try {
    Model = (await import(pathToFileURL(file).href))[obj.kind];
  } catch (e) {
    report.push({ name, errors: [`no schema for ${obj.apiVersion} ${obj.kind}: ${e.message}`] });
    continue;
  }
  try {
    new Model(obj).validate();
    report.push({ name, errors: [] });
  } catch (e) {
    report.push({ name, errors: e.message.split(", ") });
  }
}
process.stdout.write(JSON.stringify(report));
