import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { emojiData } from './emoji-data';

// Builds the screen harness (the UI with Tauri's IPC mocked) for run.mjs.
export default defineConfig({
  plugins: [svelte(), emojiData()],
  logLevel: 'warn',
  base: './',
  build: {
    target: 'es2022',
    outDir: 'test-results/screens-build',
    emptyOutDir: true,
    rollupOptions: { input: 'tests/screens/harness.html' },
  },
});
