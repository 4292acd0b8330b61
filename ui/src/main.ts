import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { applyTheme, settings } from './lib/settings.svelte';

applyTheme(settings.theme);

const target = document.getElementById('app');
if (target) mount(App, { target });
