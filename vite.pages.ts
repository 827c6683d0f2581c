import { fileURLToPath } from 'node:url';
import { defineConfig, type UserConfig } from 'vite';

/**
 * The Vite set-up both packages' pages share (the gateway's desk and kiosk, the bridge's pages):
 * Preact, the `source` condition for the workspaces' TypeScript, relative asset paths, built into the
 * package's `dist/pages`. `configUrl` is the calling config's `import.meta.url`; `inputs` name its
 * HTML entry points, relative to it.
 */
export function preactPages(configUrl: string, inputs: Record<string, string>): UserConfig {
  const here = (path: string) => fileURLToPath(new URL(path, configUrl));
  return defineConfig({
    root: here('.'),
    base: './',
    resolve: { conditions: ['source', 'browser'] },
    oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
    build: {
      outDir: here('../dist/pages'),
      emptyOutDir: true,
      target: 'es2022',
      rollupOptions: {
        input: Object.fromEntries(Object.entries(inputs).map(([name, file]) => [name, here(file)])),
      },
    },
  });
}
