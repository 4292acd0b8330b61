import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { emojiData } from './emoji-data';

// Tauri loads ui/dist; the dev server serves on a fixed port for `cargo tauri dev`.
export default defineConfig({
  plugins: [svelte(), emojiData()],
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: {
    target: ['es2021', 'safari15'],
    outDir: 'dist',
    emptyOutDir: true,
    // Inline nothing: the CSP allows only files from the app itself.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  // Tests load Svelte's browser runtime (see `test` below).
  resolve: process.env.VITEST ? { conditions: ['browser'] } : undefined,
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node',
    // Tests of stores (Svelte state, `*.svelte.ts`) load them compiled for
    // the browser, as in the app, so that derived state and reactive maps
    // behave as there.
    testTransformMode: { web: ['**/lists.test.ts', '**/timeline.test.ts', '**/*.svelte.test.ts'] },
  },
});
