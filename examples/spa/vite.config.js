import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The dev server (5173) and the preview of the build (4173) are the origins
// `go run . --dev` allows by default.
export default defineConfig({
  plugins: [react()],
  server: { port: 5173 },
  preview: { port: 4173 },
  // React, Apollo Client and graphql-js make one ~800 kB chunk (230 kB
  // gzipped); an example app does not split it.
  build: { chunkSizeWarningLimit: 1024 },
});
