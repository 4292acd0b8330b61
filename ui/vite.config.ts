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
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node',
  },
});
