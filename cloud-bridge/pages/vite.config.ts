import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * The bridge's pages for the district office, school admins, head teachers and operators. Built into
 * cloud-bridge/dist/pages, which the bridge serves on its own HTTP origin beside the API, so the session
 * cookie is first-party and no CORS is needed.
 */
export default defineConfig({
  root: here('.'),
  base: './',
  resolve: { conditions: ['source', 'browser'] },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('../dist/pages'),
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: { input: { index: here('index.html') } },
  },
});
