/**
 * Layering rules (docs/architecture.md, "What may import what"), checked by `npm run lint:deps` inside `npm test`.
 * Folder-level cycles are checked by scripts/check-folder-cycles.mjs over the same graph.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "domain-imports-only-lib",
      comment: "src/domain is pure: it may import src/lib, shared packages and npm modules, nothing else of the Worker",
      severity: "error",
      from: { path: "^src/domain/" },
      to: { path: "^src/", pathNot: "^src/(domain|lib)/" },
    },
    {
      name: "lib-imports-nothing-of-the-worker",
      severity: "error",
      from: { path: "^src/lib/" },
      to: { path: "^src/", pathNot: "^src/lib/" },
    },
    {
      name: "storage-never-imports-api-or-http",
      comment: "storage raises StorageError; the HTTP layer maps it",
      severity: "error",
      from: { path: "^src/storage/" },
      to: { path: "^src/(api|http)/|^src/app(\\.context)?\\.ts$" },
    },
    {
      name: "only-the-http-layer-imports-api",
      comment: "jobs, storage, consumers and the feature folders do not depend on routers (not even for types)",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/(api/|app\\.ts$|index\\.ts$)" },
      to: { path: "^src/api/" },
    },
    {
      name: "api-never-imports-consumers",
      comment: "routers call jobs/ and storage/, never a queue handler",
      severity: "error",
      from: { path: "^src/api/" },
      to: { path: "^src/consumers/" },
    },
    {
      name: "no-relative-imports-across-packages",
      comment: "the Worker, gpu-worker and packages/* import each other by package name only",
      severity: "error",
      from: { path: "^(src|gpu-worker|packages/[^/]+)/" },
      to: {
        path: "^(src|gpu-worker|packages/[^/]+)/",
        pathNot: "^$1/",
        dependencyTypes: ["local"],
        dependencyTypesNot: ["aliased-workspace"],
      },
    },
    {
      name: "no-circular",
      comment: "module-level import cycles (type-only imports vanish at run time and are allowed)",
      severity: "error",
      from: { path: "^(src|gpu-worker/src|packages)/" },
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules|\\.wrangler|dist" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
    },
  },
};
