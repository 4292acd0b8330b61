import { readFileSync } from 'node:fs';
import { defineConfig, type Plugin } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { emojiData } from './emoji-data';

/** The harness starts like the app: with index.html's first frame. */
function firstFrame(): Plugin {
  return {
    name: 'tern-first-frame',
    transformIndexHtml(html, ctx) {
      if (!ctx.filename.endsWith('harness.html')) return html;
      const index = readFileSync(new URL('./index.html', import.meta.url), 'utf8');
      const frame = /<!-- first frame -->[\s\S]*?<!-- \/first frame -->/.exec(index);
      if (!frame) throw new Error('index.html has no first frame');
      return html.replace('<!-- first frame -->', frame[0]);
    },
  };
}

// Builds the screen harness (the UI with Tauri's IPC mocked) for run.mjs,
// and index.html (its first frame is checked with scripts blocked).
export default defineConfig({
  plugins: [svelte(), emojiData(), firstFrame()],
  logLevel: 'warn',
  base: './',
  build: {
    target: 'es2022',
    outDir: 'test-results/screens-build',
    emptyOutDir: true,
    rollupOptions: { input: ['tests/screens/harness.html', 'index.html'] },
  },
});
