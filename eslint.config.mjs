import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { createNodeResolver, importX } from "eslint-plugin-import-x";

/**
 * The layers of design.md ("bin -> client/server -> config, spa; spa/ imports nothing of ours"),
 * enforced on resolved paths, so a relative import cannot dodge them. From the bottom:
 *   errors.ts                     the error base; imports nothing, so spa/'s FkoError can join it
 *   spa/                          the protocol, pure
 *   version, exec, errno, argv/   what every layer above spa/ may use
 *   config/, gpg/                 parsers of the files; the gpg binary adapter
 *   client/, server/              the two programs' parts, which never import each other
 *   cli/                          the command-line front ends
 * No layer imports one above it, and nothing in src/ imports bin/, test/, bench/ or scripts/.
 */
const BASE = [
  "./src/errors.ts",
  "./src/errno.ts",
  "./src/version.ts",
  "./src/exec.ts",
  "./src/argv",
];
const LAYERS = [
  {
    target: "./src",
    from: ["./bin", "./test", "./bench", "./scripts"],
    message: "src/ stands alone.",
  },
  {
    target: "./src/errors.ts",
    from: "./src",
    except: ["./errors.ts"],
    message: "errors.ts is the leaf every layer builds on: it imports nothing of ours.",
  },
  {
    target: "./src/spa",
    from: "./src",
    except: ["./spa", "./errors.ts"],
    message: "spa/ is pure and imports nothing of ours but spa/ and the error base (design.md).",
  },
  {
    target: BASE,
    from: ["./src/config", "./src/gpg", "./src/client", "./src/server", "./src/cli"],
    message:
      "errors, errno, version, exec and argv/ are the base every layer uses; they import none.",
  },
  {
    target: ["./src/config", "./src/gpg"],
    from: ["./src/client", "./src/server", "./src/cli"],
    message: "config/ and gpg/ sit below client/, server/ and cli/.",
  },
  {
    target: "./src/client",
    from: ["./src/server", "./src/cli"],
    message: "client/ does not import server/ or cli/.",
  },
  {
    target: "./src/server",
    from: ["./src/client", "./src/cli"],
    message: "server/ does not import client/ or cli/.",
  },
];

export default tseslint.config(
  // bin/, the test preload and npm's prepare hook are plain CommonJS outside the TypeScript
  // project (prepare runs where the dev dependencies, TypeScript among them, may be absent).
  {
    ignores: [
      "dist/**",
      "node_modules/**",
      "bin/**",
      "eslint.config.mjs",
      "test/fixtures/without-koffi.cjs",
      "scripts/prepare.cjs",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["describe", "it", "test", "suite"] },
          ],
        },
      ],
      "@typescript-eslint/no-confusing-void-expression": ["error", { ignoreVoidOperator: true }],
      // Protocol text here is ASCII by definition; spreading it into characters is safe.
      "@typescript-eslint/no-misused-spread": "off",
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/no-unnecessary-condition": [
        "error",
        { allowConstantLoopConditions: true },
      ],
    },
  },
  {
    files: ["src/**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      // Our imports name the emitted ".js"; the source beside it is ".ts", which no-cycle parses.
      "import-x/resolver-next": [createNodeResolver({ extensionAlias: { ".js": [".ts", ".js"] } })],
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
    },
    rules: {
      "import-x/no-restricted-paths": ["error", { zones: LAYERS }],
      "import-x/no-cycle": "error",
      "no-restricted-imports": [
        "error",
        {
          paths: ["node:child_process", "child_process"].map((name) => ({
            name,
            message: "Run programs through src/exec.ts, the one place that starts processes.",
          })),
        },
      ],
    },
  },
  {
    files: ["src/exec.ts"],
    rules: { "no-restricted-imports": "off" },
  },
);
