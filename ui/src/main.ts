import { mount } from 'svelte';
import App from './App.svelte';
import { applyTheme, settings } from './lib/settings.svelte';

// The styles (app.css) are linked from index.html, for its first frame.
applyTheme(settings.theme);

const target = document.getElementById('app');
if (target) mount(App, { target });
