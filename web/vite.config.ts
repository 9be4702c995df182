/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// The API runs on the quantdesk server; `npm run dev` proxies /api to it.
const api = process.env.QUANTDESK_API ?? "http://127.0.0.1:54321";

export default defineConfig({
  // TSX through esbuild with the automatic runtime (no plugin: fewer packages to install).
  esbuild: { jsx: "automatic" },
  // `ws: true`: /api/ws (the live channels) goes through the proxy too.
  server: { proxy: { "/api": { target: api, ws: true }, "/docs": api, "/openapi.json": api } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        manualChunks(id: string) {
          if (id.includes("node_modules/echarts") || id.includes("node_modules/zrender"))
            return "echarts";
          if (id.includes("node_modules/@codemirror") || id.includes("node_modules/@lezer"))
            return "codemirror";
          return undefined;
        },
      },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
  },
});
