import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  // bin/ and the test preload are plain CommonJS shims outside the TypeScript project.
  {
    ignores: [
      "dist/**",
      "node_modules/**",
      "bin/**",
      "eslint.config.mjs",
      "test/fixtures/without-koffi.cjs",
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
);
