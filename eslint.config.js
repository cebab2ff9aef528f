// typescript-eslint with type information, including the promise rules (no floating or misused promises).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  // scripts/*.mjs and *.cjs are plain-JavaScript tools run against dist/ and the build; the typed code they call
  // is linted at its source
  {
    ignores: [
      "dist/",
      "build/",
      "build-asan/",
      "node_modules/",
      "eslint.config.js",
      "scripts/**/*.mjs",
      "scripts/**/*.cjs",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        // node:test's describe/it return promises the runner itself awaits
        {
          allowForKnownSafeCalls: [
            { from: "package", name: ["describe", "it", "test", "suite"], package: "node:test" },
          ],
        },
      ],
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
    },
  },
  // short functions in the product (a test's describe block is a list of cases, not a function to read as one)
  {
    files: ["lib/**/*.ts", "bin/**/*.ts"],
    rules: { "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }] },
  },
);
