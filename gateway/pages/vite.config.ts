import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * The pages a gateway serves to its terminals: the librarian's desk and the computer room's kiosk.
 * Built into gateway/dist/pages, which the gateway's page server serves beside the broker's
 * WebSocket (/mqtt), so a page talks to the gateway on its own origin.
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
    rollupOptions: { input: { desk: here('desk.html'), kiosk: here('kiosk.html') } },
  },
});
