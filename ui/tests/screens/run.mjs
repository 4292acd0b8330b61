// Renders every screen of the UI in Chromium with Tauri's IPC mocked
// (harness.ts), in light and dark, checks what each shows and saves
// screenshots to test-results/screenshots/.
//
//   node tests/screens/run.mjs            (CHROMIUM=/path/to/chromium to override)

import { createServer } from 'node:http';
import { mkdir, readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { chromium } from 'playwright-core';

const ui = fileURLToPath(new URL('../..', import.meta.url));
const out = join(ui, 'test-results', 'screens-build');
const shots = join(ui, 'test-results', 'screenshots');

await build({ configFile: join(ui, 'vite.screens.config.ts'), root: ui });
await mkdir(shots, { recursive: true });

const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.svg': 'image/svg+xml' };
const server = createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
  try {
    const body = await readFile(join(out, path));
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}/tests/screens/harness.html`;

const signIn = async (page, jid = 'me@example.org') => {
  await page.getByLabel('Address').fill(jid);
  await page.getByLabel('Password', { exact: true }).fill('secret');
  await page.getByRole('button', { name: 'Sign in' }).click();
};
const toSignUpForm = async (page) => {
  await page.getByRole('tab', { name: 'Create an account' }).click();
  await page.getByLabel('Server', { exact: true }).fill('example.org');
  await page.getByRole('button', { name: 'Continue' }).click();
};
const text = (page, s) => page.getByText(s).first().waitFor();
const openAccounts = (page) => page.getByRole('button', { name: 'Accounts', exact: true }).click();

const cases = [
  { name: 'welcome', scenario: 'welcome', check: (p) => text(p, 'Welcome to Tern') },
  {
    name: 'welcome-advanced',
    scenario: 'welcome',
    act: (p) => p.getByText('Advanced').click(),
    check: (p) => p.getByLabel('Server host').waitFor(),
  },
  { name: 'signin-connecting', scenario: 'signin-slow', act: (p) => signIn(p), check: (p) => text(p, 'Signing in…') },
  {
    name: 'signin-wrong-password',
    scenario: 'signin-wrong-password',
    act: (p) => signIn(p),
    check: (p) => text(p, 'Wrong password.'),
  },
  {
    name: 'signin-certificate',
    scenario: 'signin-certificate',
    act: (p) => signIn(p),
    check: async (p) => {
      await p.getByRole('dialog', { name: 'Trust this certificate?' }).waitFor();
      const fp = await p.getByTestId('fingerprint').innerText();
      if (!fp.startsWith('3A:7F:09:C2:D4:1B:E8:5F')) throw new Error(`fingerprint shown as ${fp}`);
    },
  },
  {
    name: 'signin-certificate-trusted',
    scenario: 'signin-certificate',
    act: async (p) => {
      await signIn(p);
      await p.getByRole('button', { name: 'Trust' }).click();
    },
    check: async (p) => {
      await p.waitForFunction(() => window.__calls.some((c) => c.cmd === 'pin_certificate'));
      const call = await p.evaluate(() => window.__calls.find((c) => c.cmd === 'pin_certificate').args);
      if (call.sha256 !== '3a7f09c2d41be85f6c0e9a1d27b4f38e5c6d0a9b1e2f3c4d5a6b7c8d9e0f1a2b') throw new Error('wrong pin');
    },
  },
  {
    name: 'signin-reconnecting',
    scenario: 'signin-reconnecting',
    act: (p) => signIn(p),
    check: (p) => text(p, 'Server unreachable.'),
  },
  { name: 'signin-ok', scenario: 'signin-ok', act: (p) => signIn(p), check: (p) => p.getByRole('heading', { name: 'Accounts' }).waitFor() },
  {
    name: 'signup-server',
    scenario: 'signup',
    act: (p) => p.getByRole('tab', { name: 'Create an account' }).click(),
    check: (p) => p.getByLabel('Server', { exact: true }).waitFor(),
  },
  {
    name: 'signup-form',
    scenario: 'signup',
    act: toSignUpForm,
    check: async (p) => {
      await p.getByTestId('signup-form').waitFor();
      await text(p, 'Choose a user name and password. <b>HTML</b> from servers is shown as text.');
      await p.getByLabel('User name').waitFor();
      await p.getByLabel('Language').waitFor();
      await p.getByLabel('I accept the server rules').waitFor();
      if ((await p.locator('input[type=hidden], #su-FORM_TYPE').count()) !== 0) throw new Error('hidden field drawn');
    },
  },
  {
    name: 'signup-missing',
    scenario: 'signup',
    act: async (p) => {
      await toSignUpForm(p);
      await p.getByLabel('User name').fill('juliet');
      await p.getByLabel(/^Password/).fill('pw');
      await p.getByRole('button', { name: 'Create account' }).click();
    },
    check: (p) => text(p, 'Please fill in: I accept the server rules.'),
  },
  {
    name: 'signup-taken',
    scenario: 'signup-taken',
    act: async (p) => {
      await toSignUpForm(p);
      await p.getByLabel('User name').fill('juliet');
      await p.getByLabel(/^Password/).fill('pw');
      await p.getByLabel('I accept the server rules').check();
      await p.getByRole('button', { name: 'Create account' }).click();
    },
    check: (p) => text(p, 'That user name is already taken on this server.'),
  },
  {
    name: 'signup-unreachable',
    scenario: 'signup-unreachable',
    act: async (p) => {
      await p.getByRole('tab', { name: 'Create an account' }).click();
      await p.getByLabel('Server', { exact: true }).fill('nowhere.invalid');
      await p.getByRole('button', { name: 'Continue' }).click();
    },
    check: (p) => text(p, 'Could not find the server'),
  },
  { name: 'home', scenario: 'main', check: (p) => text(p, 'Conversations come next.') },
  {
    name: 'accounts',
    scenario: 'main',
    act: openAccounts,
    check: async (p) => {
      await text(p, 'Wrong password');
      await text(p, 'Certificate not trusted');
      await text(p, /Reconnecting in \d+ s/);
    },
  },
  {
    name: 'accounts-certificate',
    scenario: 'main',
    act: async (p) => {
      await openAccounts(p);
      await p.getByRole('button', { name: 'Review certificate…' }).click();
    },
    check: (p) => p.getByRole('dialog', { name: 'Trust this certificate?' }).waitFor(),
  },
  {
    name: 'accounts-password',
    scenario: 'main',
    act: async (p) => {
      await openAccounts(p);
      await p.getByRole('button', { name: 'Enter password…' }).click();
    },
    check: (p) => p.getByRole('dialog', { name: 'Enter the password' }).waitFor(),
  },
  {
    name: 'accounts-change-password',
    scenario: 'main',
    act: async (p) => {
      await openAccounts(p);
      await p.getByRole('button', { name: 'Change password…' }).first().click();
      await p.getByLabel('New password', { exact: true }).fill('a');
      await p.getByLabel('New password again').fill('a');
      await p.getByRole('button', { name: 'Change password', exact: true }).click();
    },
    check: (p) => text(p, 'password too weak'),
  },
  {
    name: 'accounts-delete',
    scenario: 'main',
    act: async (p) => {
      await openAccounts(p);
      await p.getByRole('button', { name: 'Delete account on server…' }).first().click();
    },
    check: (p) => p.getByRole('dialog', { name: 'Delete this account on the server?' }).waitFor(),
  },
  {
    name: 'accounts-remove',
    scenario: 'main',
    act: async (p) => {
      await openAccounts(p);
      await p.getByRole('button', { name: 'Remove from Tern…' }).first().click();
      await p.getByRole('button', { name: 'Remove', exact: true }).click();
    },
    check: async (p) => {
      await p.getByRole('dialog').waitFor({ state: 'detached' });
      if ((await p.getByTestId('account').count()) !== 5) throw new Error('account not removed');
    },
  },
  {
    name: 'accounts-add',
    scenario: 'main',
    act: async (p) => {
      await openAccounts(p);
      await p.getByRole('button', { name: 'Add account' }).click();
    },
    check: (p) => p.getByRole('heading', { name: 'Add an account' }).waitFor(),
  },
  {
    name: 'settings',
    scenario: 'main',
    act: (p) => p.getByRole('button', { name: 'Settings' }).click(),
    check: (p) => p.getByRole('radio', { name: 'Same as the system' }).waitFor(),
  },
  {
    name: 'keyboard-nav',
    scenario: 'main',
    act: async (p) => {
      await p.getByRole('button', { name: 'Conversations' }).focus();
      await p.keyboard.press('ArrowDown');
    },
    check: async (p) => {
      await p.getByRole('heading', { name: 'Accounts' }).waitFor();
      const focused = await p.evaluate(() => document.activeElement?.textContent);
      if (focused !== 'Accounts') throw new Error(`focus on ${focused}`);
    },
  },
  { name: 'fatal', scenario: 'fatal', check: (p) => text(p, 'Tern could not start') },
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
let failed = 0;
for (const theme of ['light', 'dark']) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 }, colorScheme: theme });
  for (const c of cases) {
    const page = await context.newPage();
    page.setDefaultTimeout(5000);
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && !m.location().url.endsWith('favicon.ico') && errors.push(m.text()));
    const file = join(shots, `${c.name}-${theme}.png`);
    try {
      await page.goto(`${base}?scenario=${c.scenario}&theme=${theme}`);
      await page.locator('#app > *').first().waitFor();
      if (c.act) await c.act(page);
      await c.check(page);
      if (errors.length) throw new Error(errors.join('\n'));
      await page.waitForTimeout(50);
      await page.screenshot({ path: file });
      console.log(`ok    ${c.name} (${theme})`);
    } catch (e) {
      failed += 1;
      await page.screenshot({ path: file }).catch(() => {});
      console.log(`FAIL  ${c.name} (${theme}): ${e.message.split('\n')[0]}`);
    }
    await page.close();
  }
  await context.close();
}
await browser.close();
server.close();
console.log(`${cases.length * 2 - failed} passed, ${failed} failed; screenshots in ${shots}`);
process.exit(failed ? 1 : 0);
