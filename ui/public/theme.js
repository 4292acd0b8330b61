// Applies the theme chosen in Settings (see src/lib/settings.svelte.ts)
// before the first paint, so that the first frame (index.html) is drawn in
// it. Without it, or when storage cannot be read, the system's theme shows
// until the app starts.
try {
  const theme = localStorage.getItem('tern.theme');
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
} catch (e) {
  // The app applies the theme when it starts.
}
