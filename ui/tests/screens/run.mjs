// Renders every screen of the UI in Chromium with Tauri's IPC mocked
// (harness.ts), in light and dark, checks what each shows and saves
// screenshots to test-results/screenshots/.
//
//   node tests/screens/run.mjs            (CHROMIUM=/path/to/chromium to override)
//   ONLY=chat node tests/screens/run.mjs  (only the cases whose name starts with "chat";
//                                         ONLY=chat,search for several)

import { createServer } from 'node:http';
import zlib from 'node:zlib';
import { mkdir, readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { loadavg } from 'node:os';
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
const root = `http://127.0.0.1:${server.address().port}`;
const base = `${root}/tests/screens/harness.html`;

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
const fail = (msg) => {
  throw new Error(msg);
};
const calledWith = async (p, cmd) => {
  await p.waitForFunction((c) => window.__calls.some((x) => x.cmd === c), cmd);
  return p.evaluate((c) => window.__calls.filter((x) => x.cmd === c).at(-1).args, cmd);
};
const openChat = async (p, name) => {
  await p.getByRole('button', { name: new RegExp(`^${name}`) }).first().click();
  await p.getByTestId('timeline').waitFor();
};
/** 'light' or 'dark', as the page is shown. */
const theme = async (p) => ((await p.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches)) ? 'dark' : 'light');
/** Text without emoji variation selectors (U+FE0F), for comparing. */
const plain = (t) => t.replaceAll('\uFE0F', '');
const composer = (p) => p.getByRole('textbox', { name: /^Message / });
const AVATAR_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" fill="#2f6f8f"/>' +
  '<circle cx="32" cy="25" r="12" fill="#f2d3b1"/><path d="M10 64c2-14 12-22 22-22s20 8 22 22z" fill="#e9a23b"/></svg>';
const HOSTILE_TEXTS = [
  '<script>window.__pwned = 1</script>',
  '<img src=x onerror="window.__pwned = 2">',
  'javascript:window.__pwned=3',
  '<a href="javascript:window.__pwned=4">click</a>',
  '<svg onload="window.__pwned=5"></svg>',
];
const inert = async (p) => {
  const pwned = await p.evaluate(() => window.__pwned);
  if (pwned !== undefined) fail(`a hostile string ran (${pwned})`);
  if (p.__dialogs?.length) fail(`a dialog opened: ${p.__dialogs.join(', ')}`);
  const bad = await p.evaluate(() =>
    [...document.querySelectorAll('#app script, #app img, #app svg[onload], #app [onerror], #app a[href^="javascript"]')].length,
  );
  if (bad) fail(`${bad} hostile elements in the page`);
};
const chatCases = [
  {
    name: 'chats-list',
    scenario: 'chats',
    check: async (p) => {
      await p.getByTestId('conversation').first().waitFor();
      const names = await p.getByTestId('conversation').allInnerTexts();
      if (!names[0].includes('Juliet') || !names.some((n) => n.includes('Romeo') && n.includes('3'))) fail(`list: ${names.join(' | ')}`);
      await p.getByRole('button', { name: 'Conversations, 3 unread' }).waitFor();
      await p.getByRole('button', { name: 'Contacts, 1 request' }).waitFor();
    },
  },
  {
    name: 'chat-open',
    scenario: 'chats',
    act: (p) => openChat(p, 'Juliet Capulet'),
    check: async (p) => {
      for (const s of ['Yesterday', 'Today', 'Message deleted', 'edited', 'waves from the balcony', 'On the balcony']) await text(p, s);
      await p.getByTestId('timeline').evaluate((el) => (el.scrollTop = 0));
      await text(p, 'This is the start of your conversation with');
      await p.getByRole('button', { name: 'Jump to the latest message' }).click();
      await p.getByRole('button', { name: 'Jump to the latest message' }).waitFor({ state: 'detached' });
      await p.getByTestId('reply-quote').first().waitFor();
      await p.getByRole('button', { name: '👍 2' }).waitFor();
      await p.getByRole('link', { name: 'https://tern.example/notes?v=2&x=a_b_c' }).waitFor();
      await p.locator('[title="Read"]').first().waitFor();
      await p.locator('[title="Delivered"]').first().waitFor();
      await p.locator('[title="Waiting to send"]').first().waitFor();
      const bold = await p.locator('[data-testid=message] strong').first().innerText();
      if (bold !== '*new*') fail(`strong shown as ${bold}`);
      if ((await p.locator('[data-testid=message] pre').count()) !== 1) fail('no code block');
    },
  },
  {
    name: 'chat-typing',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await p.evaluate(() => window.__send({ type: 'chat_state', account: 'alice@example.org', peer: 'juliet@capulet.example', state: 'composing' }));
    },
    check: async (p) => {
      await p.getByTestId('typing').waitFor();
      await p.evaluate(() => window.__send({ type: 'chat_state', account: 'alice@example.org', peer: 'juliet@capulet.example', state: 'paused' }));
      await p.getByTestId('typing').waitFor({ state: 'detached' });
      await p.evaluate(() => window.__send({ type: 'chat_state', account: 'alice@example.org', peer: 'juliet@capulet.example', state: 'composing' }));
      await p.getByTestId('typing').waitFor();
    },
  },
  {
    name: 'chat-encrypted',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await p.evaluate(() => {
        const base = {
          account: 'alice@example.org', peer: 'juliet@capulet.example', outgoing: false, sender: 'juliet@capulet.example/phone',
          timestamp_ms: Date.now(), state: 'received', edited: false, retracted: false, reply_to: null, reactions: {}, me: false,
          failure: null, failure_text: null, mention: false, moderated_by: null, moderation_reason: null, file: null,
        };
        window.__send({ type: 'message', message: { ...base, id: 9101, uid: 'enc-1', body: 'Only you can read this', encrypted: true, decrypt_error: null } });
        window.__send({
          type: 'message',
          message: {
            ...base, id: 9102, uid: 'enc-2', timestamp_ms: Date.now() + 1, encrypted: true,
            body: 'I sent you an OMEMO encrypted message but your client doesn’t seem to support that.',
            decrypt_error: 'This message was not encrypted for this device (it was sent before this device existed, or the sender does not know it yet).',
          },
        });
      });
    },
    check: async (p) => {
      const ok = p.locator('[data-testid=message][data-id="9101"]');
      await ok.getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
      const bad = p.locator('[data-testid=message][data-id="9102"]');
      await bad.getByTestId('undecryptable').waitFor();
      const t = await bad.innerText();
      if (t.includes('your client doesn')) fail('the fallback text is shown instead of the reason');
      if (!t.includes('not encrypted for this device')) fail(`no reason shown: ${t}`);
    },
  },
  {
    name: 'chat-lock-encrypted',
    scenario: 'chats',
    act: (p) => openChat(p, 'Juliet Capulet'),
    check: async (p) => {
      const lock = p.getByTestId('lock');
      // Its name is the whole line; the window shows its start.
      await p.getByRole('button', { name: 'Encrypted for Juliet Capulet’s 2 devices and your other device', exact: true }).waitFor();
      if ((await lock.innerText()) !== 'Encrypted') fail(`lock shows ${await lock.innerText()}`);
      if ((await lock.getAttribute('data-state')) !== 'encrypted') fail('lock not in the encrypted state');
      // The user's own encrypted messages carry the lock the incoming ones do.
      await p.locator('[data-testid=message][data-id="7"]').getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
      if (await p.locator('[data-testid=message][data-id="8"]').getByRole('img', { name: 'End-to-end encrypted' }).count()) fail('a plain message with a lock');
      if (await p.getByTestId('composer-hint').count()) fail('a composer hint while encrypted');
    },
  },
  {
    name: 'chat-lock-wide',
    scenario: 'chats',
    viewport: { width: 1400, height: 700 },
    act: (p) => openChat(p, 'Juliet Capulet'),
    check: async (p) => {
      // Room enough: the whole line shows.
      const shown = await p.getByTestId('lock').innerText();
      if (shown !== 'Encrypted for Juliet Capulet’s 2 devices and your other device') fail(`lock shows ${JSON.stringify(shown)}`);
    },
  },
  {
    name: 'chat-lock-popover',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await p.getByTestId('lock').click();
    },
    check: async (p) => {
      const pop = p.getByRole('dialog', { name: 'Encryption' });
      await pop.getByText('only these devices can read them').waitFor();
      await pop.getByText('Juliet Capulet has a device you have not decided to trust yet. Messages are not encrypted for it until you do.').waitFor();
      if (!(await pop.getByRole('checkbox', { name: 'Encrypt messages' }).isChecked())) fail('the switch is off');
      await pop.getByRole('button', { name: 'Juliet Capulet’s encryption keys…' }).waitFor();
      if ((await p.getByTestId('lock').getAttribute('aria-expanded')) !== 'true') fail('lock not expanded');
      // Keyboard: the focus is on the switch, Tab goes on to the keys;
      // Escape closes and gives the focus back to the lock.
      if ((await p.evaluate(() => document.activeElement?.getAttribute('type'))) !== 'checkbox') fail('the focus is not on the switch');
      await p.keyboard.press('Tab');
      if ((await p.evaluate(() => document.activeElement?.textContent)) !== 'Juliet Capulet’s encryption keys…') fail('Tab did not reach the keys');
      await p.keyboard.press('Escape');
      await pop.waitFor({ state: 'detached' });
      if ((await p.evaluate(() => document.activeElement?.dataset.testid)) !== 'lock') fail('focus not back on the lock');
      // Enter opens it again (the state shown with it).
      await p.keyboard.press('Enter');
      await pop.waitFor();
    },
  },
  {
    name: 'chat-lock-off-confirm',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await p.getByTestId('lock').click();
      await p.getByRole('checkbox', { name: 'Encrypt messages' }).click();
    },
    check: async (p) => {
      const dialog = p.getByRole('dialog', { name: 'Turn encryption off?' });
      await dialog.getByText('Messages will be readable by the servers').waitFor();
      // Nothing changed until the user confirms.
      if (await p.evaluate(() => window.__calls.some((c) => c.cmd === 'set_conversation_encryption'))) fail('turned off before confirming');
    },
  },
  {
    name: 'chat-lock-plain',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await p.getByTestId('lock').click();
      await p.getByRole('checkbox', { name: 'Encrypt messages' }).click();
      await p.getByRole('dialog', { name: 'Turn encryption off?' }).getByRole('button', { name: 'Turn encryption off' }).click();
    },
    check: async (p) => {
      const args = await calledWith(p, 'set_conversation_encryption');
      if (args.encrypted !== false || args.peer !== 'juliet@capulet.example') fail(JSON.stringify(args));
      await p.getByRole('button', { name: 'Not encrypted', exact: true }).waitFor();
      if ((await p.getByTestId('lock').getAttribute('data-state')) !== 'plain') fail('lock not in the plain state');
      const hint = await p.getByTestId('composer-hint').innerText();
      if (!hint.includes('Not encrypted: servers can read what you send to Juliet Capulet')) fail(`hint: ${hint}`);
      // The composer's field names the hint.
      if ((await composer(p).getAttribute('aria-describedby')) !== 'composer-hint') fail('field not described by the hint');
      // On again: no confirmation, and the hint goes.
      await p.getByTestId('lock').click();
      await p.getByRole('checkbox', { name: 'Encrypt messages' }).check();
      await p.getByTestId('composer-hint').waitFor({ state: 'detached' });
      if ((await calledWith(p, 'set_conversation_encryption')).encrypted !== true) fail('not turned on again');
      await p.keyboard.press('Escape');
      // The Nurse's conversation was turned off earlier: the hint, quietly.
      await openChat(p, 'The Nurse');
      await p.getByTestId('composer-hint').waitFor();
    },
  },
  {
    name: 'chat-lock-undecided',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Romeo');
      await p.getByTestId('lock').click();
    },
    check: async (p) => {
      await p.getByRole('button', { name: 'Keys not known yet: Encrypted once Romeo’s keys are known', exact: true }).waitFor();
      if ((await p.getByTestId('lock').getAttribute('title')) !== 'Encrypted once Romeo’s keys are known') fail('lock title');
      await p.getByRole('dialog', { name: 'Encryption' }).getByText('if they have no keys, it goes unencrypted').waitFor();
      if (await p.getByTestId('composer-hint').count()) fail('a composer hint before the keys are known');
    },
  },
  {
    name: 'chat-lock-waiting',
    scenario: 'chats-held',
    act: async (p) => {
      await openChat(p, 'Romeo');
      await p.getByTestId('lock').click();
    },
    check: async (p) => {
      await p.getByRole('button', { name: 'Can’t encrypt for Romeo yet', exact: true }).waitFor();
      const pop = p.getByRole('dialog', { name: 'Encryption' });
      await pop.getByTestId('lock-problem').getByText('a device you have not decided to trust').waitFor();
      // Said once, not again as a note about the untrusted device.
      if (await pop.getByText('Messages are not encrypted for it').count()) fail('the untrusted device told twice');
      const hint = await p.getByTestId('composer-hint').innerText();
      if (!hint.startsWith('Messages you send now wait to be encrypted.')) fail(`hint: ${hint}`);
    },
  },
  {
    name: 'chat-lock-keys',
    scenario: 'chats-held',
    act: async (p) => {
      await openChat(p, 'Romeo');
      await p.getByTestId('lock').click();
      await p.getByRole('dialog', { name: 'Encryption' }).getByRole('button', { name: 'Romeo’s encryption keys…' }).click();
    },
    // The keys link opens the contact's encryption keys.
    check: async (p) => {
      await p.getByRole('dialog', { name: 'Encryption keys' }).waitFor();
      await p.getByRole('dialog', { name: 'Encryption', exact: true }).waitFor({ state: 'detached' });
    },
  },
  {
    name: 'chat-held-message',
    scenario: 'chats-held',
    act: (p) => openChat(p, 'Romeo'),
    check: async (p) => {
      const held = p.locator('[data-testid=message][data-id="700"]');
      const t = await held.getByTestId('held').innerText();
      if (!t.includes('Waiting to be encrypted.') || !t.includes('not decided to trust')) fail(`held: ${t}`);
      await held.locator('[title="Waiting to be encrypted"]').waitFor();
      // The one behind it waits too, without a reason of its own.
      if (await p.locator('[data-testid=message][data-id="701"]').getByTestId('held').count()) fail('the later message shows a reason');
      // Try again, from the keyboard (Shift+Tab from the other action).
      await held.getByRole('button', { name: 'Send unencrypted…' }).focus();
      await p.keyboard.press('Shift+Tab');
      if ((await p.evaluate(() => document.activeElement?.textContent)) !== 'Try again') fail('Shift+Tab did not reach Try again');
      await p.keyboard.press('Enter');
      const retry = await calledWith(p, 'retry_held');
      if (retry.peer !== 'romeo@montague.example') fail(JSON.stringify(retry));
      const focus = await held.getByRole('button', { name: 'Try again' }).evaluate((el) => getComputedStyle(el).outlineStyle);
      if (focus === 'none') fail('no visible focus on Try again');
    },
  },
  {
    name: 'chat-held-confirm',
    scenario: 'chats-held',
    act: async (p) => {
      await openChat(p, 'Romeo');
      await p.locator('[data-testid=message][data-id="700"]').getByRole('button', { name: 'Send unencrypted…' }).click();
    },
    check: async (p) => {
      const dialog = p.getByRole('dialog', { name: 'Send this message unencrypted?' });
      await dialog.getByText('readable by the servers').waitFor();
      if (await p.evaluate(() => window.__calls.some((c) => c.cmd === 'send_unencrypted'))) fail('sent before confirming');
    },
  },
  {
    name: 'chat-held-sent',
    scenario: 'chats-held',
    act: async (p) => {
      await openChat(p, 'Romeo');
      await p.locator('[data-testid=message][data-id="700"]').getByRole('button', { name: 'Send unencrypted…' }).click();
      await p.getByRole('dialog', { name: 'Send this message unencrypted?' }).getByRole('button', { name: 'Send unencrypted' }).click();
    },
    check: async (p) => {
      if ((await calledWith(p, 'send_unencrypted')).id !== 700) fail('another message sent');
      const sent = p.locator('[data-testid=message][data-id="700"]');
      await sent.getByTestId('held').waitFor({ state: 'detached' });
      await sent.locator('[title="Sent to the server"]').waitFor();
      // The next one now waits, with the reason.
      await p.locator('[data-testid=message][data-id="701"]').getByTestId('held').waitFor();
    },
  },
  {
    name: 'chat-draft-restart',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await composer(p).fill('');
      await composer(p).pressSequentially('Half a thought, unsent');
      // Another conversation, then back: the text is still there.
      await openChat(p, 'Romeo');
      if ((await composer(p).inputValue()) !== '') fail('a draft showed in another conversation');
      await openChat(p, 'Juliet Capulet');
      if ((await composer(p).inputValue()) !== 'Half a thought, unsent') fail('the draft was lost on switching');
      // Tern restarts (or crashed) right after typing.
      await p.reload();
      await p.locator('#app > *').first().waitFor();
      await openChat(p, 'Juliet Capulet');
    },
    check: async (p) => {
      const value = await composer(p).inputValue();
      if (value !== 'Half a thought, unsent') fail(`after a restart the composer holds ${JSON.stringify(value)}`);
      await composer(p).press('Enter');
      const args = await calledWith(p, 'send_message');
      if (args.draft.body !== 'Half a thought, unsent') fail(`sent ${JSON.stringify(args.draft.body)}`);
    },
  },
  {
    name: 'chat-send',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await composer(p).fill('');
      await composer(p).pressSequentially('First line');
      await p.keyboard.press('Shift+Enter');
      await p.keyboard.type('second *line*');
      await p.keyboard.press('Enter');
    },
    check: async (p) => {
      const args = await calledWith(p, 'send_message');
      if (args.draft.body !== 'First line\nsecond *line*') fail(`sent ${JSON.stringify(args.draft.body)}`);
      const states = await p.evaluate(() => window.__calls.filter((c) => c.cmd === 'send_chat_state').map((c) => c.args.state));
      if (states[0] !== 'composing') fail(`chat states ${states}`);
      await text(p, 'second');
      if ((await composer(p).inputValue()) !== '') fail('composer not cleared');
      await p.locator('[title="Sent to the server"]').last().waitFor();
    },
  },
  {
    name: 'chat-edit-last',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await composer(p).focus();
      await p.keyboard.press('ArrowUp');
      await text(p, 'Editing your message');
    },
    check: async (p) => {
      const field = p.getByRole('textbox', { name: 'Edit message' });
      if ((await field.inputValue()) !== 'And one still waiting to be sent') fail('wrong message in edit');
      await p.keyboard.press('Escape');
      await p.getByTestId('composer-context').waitFor({ state: 'detached' });
      await composer(p).focus();
      await p.keyboard.press('ArrowUp');
      await field.fill('And one, corrected');
      await p.keyboard.press('Enter');
      const args = await calledWith(p, 'correct_message');
      if (args.id !== 8 || args.body !== 'And one, corrected') fail(JSON.stringify(args));
      await text(p, 'And one, corrected');
    },
  },
  {
    name: 'chat-reply',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      const m = p.locator('[data-testid=message][data-id="9"]');
      await m.hover();
      await m.getByRole('button', { name: 'Reply' }).click();
      await p.getByTestId('composer-context').waitFor();
      await p.keyboard.type('Agreed');
    },
    check: async (p) => {
      await p.keyboard.press('Enter');
      const args = await calledWith(p, 'send_message');
      if (args.draft.reply_to !== 9) fail(JSON.stringify(args));
    },
  },
  {
    name: 'chat-react-delete',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await p.getByRole('button', { name: '😂 1' }).click();
      const m = p.locator('[data-testid=message][data-id="7"]');
      await m.hover();
      await m.getByRole('button', { name: 'Delete' }).click();
      await p.getByRole('dialog', { name: 'Delete this message for everyone?' }).waitFor();
    },
    check: async (p) => {
      const r = await calledWith(p, 'react');
      if (r.id !== 9 || r.emojis.length !== 0) fail(`react ${JSON.stringify(r)}`);
      await p.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click();
      const d = await calledWith(p, 'retract_message');
      if (d.id !== 7) fail('wrong message deleted');
      await p.locator('[data-testid=message][data-id="7"]').getByText('Message deleted').waitFor();
    },
  },
  {
    name: 'chat-resend',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      const m = p.locator('[data-testid=message][data-id="10"]');
      await m.getByLabel('Not sent').waitFor();
      // Why, in words, and the server's own words as text.
      const why = await m.getByTestId('failure').textContent();
      if (!why.includes('server could not be found') || !why.includes('“<b>DNS</b> lookup failed for capulet.example”')) fail(`failure: ${why}`);
      if (await m.locator('.failure b').count()) fail('server text became markup');
      await m.getByRole('button', { name: 'Send again' }).focus();
    },
    check: async (p) => {
      const m = p.locator('[data-testid=message][data-id="10"]');
      await p.keyboard.press('Enter');
      const r = await calledWith(p, 'resend_message');
      if (r.id !== 10) fail(`resend ${JSON.stringify(r)}`);
      await m.getByLabel('Sent to the server').waitFor();
      if (await m.getByRole('button', { name: 'Send again' }).count()) fail('"Send again" stays after sending');
      if (await m.getByTestId('failure').count()) fail('the reason stays after sending');
      const others = await p.getByRole('button', { name: 'Send again' }).count();
      if (others) fail(`${others} other messages offer "Send again"`);
      // In the list, a conversation whose last message failed says so.
      const nurse = await p.getByRole('button', { name: /^The Nurse/ }).textContent();
      if (!nurse.includes('Not sent: I come, I come!')) fail(`list: ${nurse}`);
    },
  },
  {
    name: 'chat-delete-conversation',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await composer(p).fill('an unsent draft');
      await p.getByRole('button', { name: 'Delete conversation…' }).click();
      await p.getByRole('dialog', { name: 'Delete this conversation?' }).waitFor();
      await p.screenshot({ path: join(shots, `chat-delete-conversation-ask-${await theme(p)}.png`) });
    },
    check: async (p) => {
      // Cancel keeps everything.
      await p.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
      if (await p.evaluate(() => window.__calls.some((c) => c.cmd === 'delete_conversation'))) fail('deleted on Cancel');
      await p.getByRole('button', { name: 'Delete conversation…' }).click();
      await p.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click();
      const d = await calledWith(p, 'delete_conversation');
      if (d.account !== 'alice@example.org' || d.peer !== 'juliet@capulet.example') fail(JSON.stringify(d));
      await p.getByTestId('timeline').waitFor({ state: 'detached' });
      await p.getByRole('button', { name: /^Juliet Capulet/ }).waitFor({ state: 'detached' });
      if (!(await p.getByRole('button', { name: /^Romeo/ }).count())) fail('other conversations went too');
    },
  },
  {
    name: 'chat-unread-line',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Romeo');
      await p.getByRole('separator', { name: 'New messages' }).waitFor();
      await p.screenshot({ path: join(shots, `chat-unread-line-open-${await theme(p)}.png`) });
    },
    check: async (p) => {
      // The line sits right before the first of the three unread messages.
      const order = await p.getByTestId('timeline').evaluate((el) =>
        [...el.querySelectorAll('[data-testid=message], [role=separator][aria-label="New messages"]')].map((e) =>
          e.getAttribute('role') === 'separator' ? 'NEW' : e.querySelector('.body')?.textContent?.trim().slice(0, 12),
        ),
      );
      const at = order.indexOf('NEW');
      if (at < 0 || !order[at + 1]?.startsWith('Good morrow') || !order[at - 1]?.startsWith('Sleep dwell')) fail(`order: ${JSON.stringify(order)}`);
      await calledWith(p, 'mark_read');
      await p.waitForTimeout(300);
      if (!(await p.getByRole('separator', { name: 'New messages' }).count())) fail('the line left while the conversation is open');
      // Read now: coming back shows no line.
      await openChat(p, 'Juliet Capulet');
      await openChat(p, 'Romeo');
      await p.getByText('Art thou awake?').waitFor();
      if (await p.getByRole('separator', { name: 'New messages' }).count()) fail('the line came back for read messages');
      await openChat(p, 'Romeo');
    },
  },
  {
    name: 'chat-unread-many',
    scenario: 'unread',
    act: (p) => openChat(p, 'Romeo'),
    check: async (p) => {
      // Opens at the first unread message, not at the newest.
      const line = p.getByRole('separator', { name: 'New messages' });
      await line.waitFor();
      await p.waitForTimeout(300);
      const tl = p.getByTestId('timeline');
      const inView = await tl.evaluate((el) => {
        const box = el.getBoundingClientRect();
        const l = el.querySelector('[role=separator][aria-label="New messages"]').getBoundingClientRect();
        return l.top >= box.top && l.bottom <= box.bottom;
      });
      if (!inView) fail('the New messages line is not in view');
      await p.getByText('Message number 201', { exact: true }).waitFor();
      if (await tl.getByText('Message number 260', { exact: true }).isVisible()) fail('opened at the newest message');
    },
  },
  {
    name: 'chat-link',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await p.getByRole('link', { name: /tern\.example/ }).click();
    },
    check: async (p) => {
      const args = await calledWith(p, 'open_link');
      if (args.url !== 'https://tern.example/notes?v=2&x=a_b_c') fail(`opened ${args.url}`);
      if (!p.url().includes('harness.html')) fail('the page navigated');
    },
  },
  {
    name: 'chat-long',
    scenario: 'long',
    act: (p) => openChat(p, 'Romeo'),
    check: async (p) => {
      await text(p, 'Message number 100000');
      const rows = await p.locator('[data-vi]').count();
      if (rows > 120) fail(`${rows} rows in the DOM`);
      const t0 = await p.evaluate(() => performance.now());
      for (const f of [0.5, 0.1, 0.9, 0.3]) {
        await p.getByTestId('timeline').evaluate((el, f) => (el.scrollTop = el.scrollHeight * f), f);
        await p.waitForTimeout(30);
      }
      const spent = (await p.evaluate(() => performance.now())) - t0;
      const after = await p.locator('[data-vi]').count();
      if (after > 120) fail(`${after} rows in the DOM after scrolling`);
      if (spent > 3000) fail(`scrolling took ${spent} ms`);
      await p.getByTestId('timeline').evaluate((el) => (el.scrollTop = el.scrollHeight * 0.5));
      await p.getByText(/Message number 5\d{4}/).first().waitFor();
      // A new message at 100,000 shows at once.
      await p.getByTestId('timeline').evaluate((el) => (el.scrollTop = el.scrollHeight));
      const t1 = await p.evaluate(() => {
        const m = {
          id: 100_001, account: 'alice@example.org', peer: 'romeo@montague.example', outgoing: false,
          sender: 'romeo@montague.example', uid: 'new', body: 'Brand new message', timestamp_ms: Date.now(),
          state: 'received', edited: false, retracted: false, reply_to: null, reactions: {}, me: false,
        };
        window.__send({ type: 'message', message: m });
        return performance.now();
      });
      await text(p, 'Brand new message');
      const took = (await p.evaluate(() => performance.now())) - t1;
      if (took > 1000) fail(`a new message took ${took} ms to show`);
      console.log(`      new message shown after ${Math.round(took)} ms at 100,000 messages`);
    },
  },
  {
    name: 'chat-scrollback',
    scenario: 'paged',
    act: (p) => openChat(p, 'Romeo'),
    check: async (p) => {
      await text(p, 'Message number 1000');
      const tl = p.getByTestId('timeline');
      for (let page = 0; page < 3; page++) {
        // The message at the top stays where it is while older ones load above it.
        const before = await p.evaluate(() => window.__calls.filter((c) => c.cmd === 'load_older').length);
        await tl.evaluate((el) => (el.scrollTop = 0));
        await p.waitForTimeout(60); // drawn, while the page (150 ms) is still loading
        const anchor = await tl.evaluate((el) => {
          const top = el.getBoundingClientRect().top;
          const row = [...el.querySelectorAll('[data-testid=message]')].find((r) => r.getBoundingClientRect().bottom > top + 5);
          return { id: row.dataset.id, y: row.getBoundingClientRect().top };
        });
        await p.waitForFunction((n) => window.__calls.filter((c) => c.cmd === 'load_older').length > n, before);
        await p.waitForTimeout(400);
        const y = await tl.evaluate((el, id) => el.querySelector(`[data-id="${id}"]`)?.getBoundingClientRect().top ?? null, anchor.id);
        if (y === null || Math.abs(y - anchor.y) > 80) fail(`message ${anchor.id} jumped from ${anchor.y} to ${y}`);
      }
      const first = await tl.evaluate((el) => el.querySelectorAll('[data-testid=message]').length);
      if (first > 120) fail(`${first} rows drawn`);
    },
  },
  {
    name: 'chat-window',
    scenario: 'window',
    act: (p) => openChat(p, 'Romeo'),
    check: async (p) => {
      const tl = p.getByTestId('timeline');
      const newest = tl.getByText('Message number 3000', { exact: true });
      await newest.waitFor();
      const calls = (cmd) => p.evaluate((c) => window.__calls.filter((x) => x.cmd === c).length, cmd);
      const start = tl.getByText('This is the start of your conversation');
      const scrollUntil = async (to, done) => {
        for (let i = 0; i < 300 && !(await done()); i++) {
          await tl.evaluate((el, to) => (el.scrollTop = to === 'top' ? 0 : el.scrollHeight), to);
          await p.waitForTimeout(25);
        }
        if (!(await done())) fail(`did not reach the ${to}`);
      };
      // All the way back: more than the loaded window (1,500) goes past.
      await scrollUntil('top', () => start.isVisible());
      if ((await calls('load_older')) < 45) fail(`only ${await calls('load_older')} older pages loaded`);
      await tl.getByText('Message number 2', { exact: true }).waitFor();
      const drawn = await p.locator('[data-vi]').count();
      if (drawn > 120) fail(`${drawn} rows drawn`);
      // The newest were dropped from the window; the jump button brings them back.
      await p.getByRole('button', { name: 'Jump to the latest message' }).waitFor();
      // Back down, page by page: every message once, in order.
      await scrollUntil('bottom', () => newest.isVisible());
      if ((await calls('load_newer')) < 20) fail(`only ${await calls('load_newer')} newer pages loaded`);
      const seen = await tl.evaluate((el) => [...el.querySelectorAll('[data-testid=message]')].map((r) => Number(r.textContent.match(/number (\d+)/)?.[1])));
      for (let i = 1; i < seen.length; i++) if (seen[i] !== seen[i - 1] + 1) fail(`messages out of order or repeated: ${seen.join(',')}`);
      // Back up once more, then jump to the latest in one step.
      await scrollUntil('top', () => start.isVisible());
      const before = await calls('timeline');
      await p.getByRole('button', { name: 'Jump to the latest message' }).click();
      await newest.waitFor();
      if ((await calls('timeline')) <= before) fail('the latest messages were not loaded again');
      // A live message shows at once again.
      await p.evaluate(() => {
        const m = {
          id: 3001, account: 'alice@example.org', peer: 'romeo@montague.example', outgoing: false,
          sender: 'romeo@montague.example', uid: 'w-new', body: 'After the jump', timestamp_ms: Date.now(),
          state: 'received', edited: false, retracted: false, reply_to: null, reactions: {}, me: false,
        };
        window.__send({ type: 'message', message: m });
      });
      await tl.getByText('After the jump').waitFor();
    },
  },
  {
    name: 'chat-window-search',
    scenario: 'window',
    act: async (p) => {
      await p.getByRole('searchbox', { name: 'Search messages' }).fill('number 1234');
      await p.getByTestId('search-hit').first().click();
    },
    check: async (p) => {
      // The hit opens in its context: the pages around it, not the newest.
      const tl = p.getByTestId('timeline');
      await tl.getByText('Message number 1234', { exact: true }).waitFor();
      const shown = await tl.evaluate((el) => [...el.querySelectorAll('[data-testid=message]')].map((r) => Number(r.textContent.match(/number (\d+)/)?.[1])));
      if (!shown.includes(1234) || shown.some((n) => n > 1300 || n < 1170)) fail(`around the hit: ${shown.join(',')}`);
      const inView = await tl.evaluate((el) => {
        const row = [...el.querySelectorAll('[data-testid=message]')].find((r) => /number 1234\b/.test(r.textContent));
        const a = row.getBoundingClientRect();
        const b = el.getBoundingClientRect();
        return a.top >= b.top && a.bottom <= b.bottom;
      });
      if (!inView) fail('the hit is not in view');
      // Down from there, newer pages load until the newest.
      for (let i = 0; i < 300 && !(await tl.getByText('Message number 3000', { exact: true }).isVisible()); i++) {
        await tl.evaluate((el) => (el.scrollTop = el.scrollHeight));
        await p.waitForTimeout(25);
      }
      await tl.getByText('Message number 3000', { exact: true }).waitFor();
    },
  },
  {
    name: 'search',
    scenario: 'chats',
    act: async (p) => {
      await p.getByRole('searchbox', { name: 'Search messages' }).fill('search');
    },
    check: async (p) => {
      await p.getByTestId('search-hit').first().waitFor();
      const mark = await p.locator('[data-testid=search-hit] mark').first().innerText();
      if (mark.toLowerCase() !== 'search') fail(`mark ${mark}`);
      await p.getByTestId('search-hit').first().click();
      await p.locator('[data-testid=message][data-id="2"]').waitFor();
    },
  },
  {
    name: 'quick-switcher',
    scenario: 'chats',
    act: async (p) => {
      await p.getByTestId('conversation').first().waitFor();
      await p.keyboard.press('Control+k');
      await p.getByRole('combobox', { name: 'Name or address' }).fill('nur');
    },
    check: async (p) => {
      await p.getByRole('option', { name: /The Nurse/ }).waitFor();
      await p.keyboard.press('Enter');
      await p.getByRole('region', { name: 'Conversation with The Nurse' }).waitFor();
      await text(p, 'Anon, anon!');
    },
  },
  {
    name: 'contacts',
    scenario: 'chats',
    act: (p) => p.getByRole('button', { name: /^Contacts/ }).click(),
    check: async (p) => {
      await p.getByTestId('request').waitFor();
      for (const s of ['Family', 'Friends', 'Busy with errands', 'Waiting for them to accept', 'Friar Laurence', 'Prince of Cats', 'Benvolio'])
        await text(p, s);
      await p.evaluate(() =>
        window.__send({
          type: 'profile',
          account: 'alice@example.org',
          jid: 'romeo@montague.example',
          profile: { avatar: null, nickname: 'Romeo M.' },
        }),
      );
      await p.getByRole('button', { name: 'Approve benvolio@montague.example' }).click();
      const a = await calledWith(p, 'approve_subscription');
      if (a.jid !== 'benvolio@montague.example') fail('approved someone else');
      await p.getByTestId('request').waitFor({ state: 'detached' });
    },
  },
  {
    name: 'contacts-add',
    scenario: 'chats',
    act: async (p) => {
      await p.getByRole('button', { name: /^Contacts/ }).click();
      await p.getByRole('button', { name: 'Add contact' }).first().click();
      await p.getByLabel('Address').fill('Mercutio@Verona.example');
      await p.getByLabel('Name (optional)').fill('Mercutio');
      await p.getByLabel(/^Groups/).fill('Friends, , Friends');
    },
    check: async (p) => {
      await p.getByRole('button', { name: 'Add', exact: true }).click();
      const a = await calledWith(p, 'add_contact');
      if (a.contact.jid !== 'mercutio@verona.example' || a.contact.name !== 'Mercutio' || a.contact.groups.join() !== 'Friends')
        fail(JSON.stringify(a));
      await p.getByRole('dialog').waitFor({ state: 'detached' });
      await text(p, 'Mercutio');
    },
  },
  {
    name: 'settings-blocked',
    scenario: 'chats',
    act: (p) => p.getByRole('button', { name: 'Settings' }).click(),
    check: async (p) => {
      await p.getByTestId('blocked').waitFor();
      await p.getByLabel('Address to block').fill('troll@junk.example');
      await p.getByRole('button', { name: 'Block', exact: true }).click();
      await text(p, 'troll@junk.example');
      await p.getByRole('button', { name: 'Unblock spam@junk.example' }).click();
      await p.getByText('spam@junk.example').waitFor({ state: 'detached' });
    },
  },
  {
    name: 'events-gap',
    scenario: 'chats',
    act: (p) => p.getByRole('button', { name: 'Settings' }).click(),
    check: async (p) => {
      await p.getByTestId('blocked').waitFor();
      // A change the page misses, then one it gets: it asks for the state again.
      await p.evaluate(() => {
        window.__lose({ type: 'blocklist', account: 'alice@example.org', blocked: ['lost@junk.example'], unblocked: [], unblocked_all: false });
        window.__send({ type: 'chat_state', account: 'alice@example.org', peer: 'juliet@capulet.example', state: 'composing' });
      });
      await text(p, 'lost@junk.example');
      const asked = await p.evaluate(() => window.__calls.filter((c) => c.cmd === 'snapshot').length);
      if (asked !== 2) fail(`snapshot asked ${asked} times`);
      // And goes on with the events after it.
      await p.evaluate(() =>
        window.__send({ type: 'blocklist', account: 'alice@example.org', blocked: [], unblocked: ['spam@junk.example'], unblocked_all: false }),
      );
      await p.getByText('spam@junk.example').waitFor({ state: 'detached' });
    },
  },
  {
    name: 'link-message',
    scenario: 'chats',
    act: async (p) => {
      await p.getByTestId('conversation').first().waitFor();
      await p.evaluate(() =>
        window.__emit('tern://open-uri', { jid: 'juliet@capulet.example', action: 'message', body: 'Hi from a link', name: null }),
      );
    },
    check: async (p) => {
      await p.getByRole('region', { name: 'Conversation with Juliet Capulet' }).waitFor();
      if ((await composer(p).inputValue()) !== 'Hi from a link') fail('the link text is not in the composer');
      if (await p.evaluate(() => window.__calls.some((c) => c.cmd === 'send_message'))) fail('a link sent a message');
      const o = await calledWith(p, 'set_open_conversation');
      if (o.peer !== 'juliet@capulet.example') fail(JSON.stringify(o));
    },
  },
  {
    name: 'link-at-start',
    scenario: 'chats-uri',
    check: async (p) => {
      await p.getByRole('region', { name: 'Conversation with The Nurse' }).waitFor();
      if ((await composer(p).inputValue()) !== 'Started from a link') fail('no draft from the start link');
    },
  },
  {
    name: 'link-subscribe',
    scenario: 'chats',
    act: async (p) => {
      await p.getByTestId('conversation').first().waitFor();
      await p.evaluate(() => window.__emit('tern://open-uri', { jid: 'mercutio@verona.example', action: 'subscribe', body: null, name: 'Mercutio' }));
    },
    check: async (p) => {
      await p.getByRole('dialog', { name: 'Add a contact' }).waitFor();
      if ((await p.getByLabel('Address').inputValue()) !== 'mercutio@verona.example') fail('address not filled in');
      if ((await p.getByLabel('Name (optional)').inputValue()) !== 'Mercutio') fail('name not filled in');
    },
  },
  {
    name: 'notification-click',
    scenario: 'chats',
    act: async (p) => {
      await p.getByTestId('conversation').first().waitFor();
      await p.getByRole('button', { name: 'Settings' }).click();
      await p.evaluate(() => window.__emit('tern://open-conversation', { account: 'alice@example.org', peer: 'nurse@capulet.example' }));
    },
    check: async (p) => {
      await p.getByRole('region', { name: 'Conversation with The Nurse' }).waitFor();
      await p.waitForFunction(() => window.__calls.filter((c) => c.cmd === 'set_open_conversation').at(-1)?.args.peer === 'nurse@capulet.example');
      await p.getByRole('button', { name: 'Settings' }).click();
      await p.waitForFunction(() => window.__calls.filter((c) => c.cmd === 'set_open_conversation').at(-1)?.args.peer === null);
    },
  },
  {
    name: 'settings-desktop',
    scenario: 'chats',
    act: async (p) => {
      await p.getByRole('button', { name: 'Settings' }).click();
      await p.getByLabel('Include the message text').uncheck();
      await p.getByLabel('Check spelling while typing').uncheck();
    },
    check: async (p) => {
      const s = await calledWith(p, 'set_desktop_settings');
      if (s.settings.notification_text !== false || s.settings.notifications !== true || s.settings.spell_check !== false)
        fail(JSON.stringify(s));
      // The composer stops asking for spell checking too (all the
      // Windows and macOS web views go by).
      await p.getByRole('button', { name: /^Conversations/ }).click();
      await openChat(p, 'Juliet');
      if ((await composer(p).getAttribute('spellcheck')) !== 'false') fail('the composer still asks for spell checking');
      await p.getByRole('button', { name: 'Settings' }).click();
    },
  },
  {
    name: 'spelling-on-first-focus',
    scenario: 'chats',
    act: async (p) => {
      // Until something spell-checked has the focus, the shell is not asked
      // to check (WebKitGTK would load its dictionaries for nothing).
      const s = await calledWith(p, 'set_desktop_settings');
      if (s.settings.spell_check !== false) fail(`asked at start: ${JSON.stringify(s)}`);
      await openChat(p, 'Juliet Capulet');
      await composer(p).focus();
    },
    check: async (p) => {
      await p.waitForFunction(() => window.__calls.filter((c) => c.cmd === 'set_desktop_settings').at(-1).args.settings.spell_check);
      if ((await composer(p).getAttribute('spellcheck')) !== 'true') fail('the composer does not ask for spell checking');
    },
  },
  {
    name: 'presence',
    scenario: 'chats',
    act: (p) => p.getByRole('combobox', { name: 'Your status' }).selectOption('dnd'),
    check: async (p) => {
      const a = await calledWith(p, 'set_presence');
      if (a.account !== 'alice@example.org' || a.show !== 'dnd') fail(JSON.stringify(a));
    },
  },
  {
    name: 'narrow-list',
    scenario: 'chats',
    viewport: { width: 600, height: 600 },
    check: async (p) => {
      await p.getByTestId('conversation').first().waitFor();
      if (await p.getByText('Choose a conversation').isVisible()) fail('empty pane shown beside the list');
    },
  },
  {
    name: 'narrow-chat',
    scenario: 'chats',
    viewport: { width: 600, height: 600 },
    act: (p) => openChat(p, 'Juliet Capulet'),
    check: async (p) => {
      if (await p.getByRole('searchbox', { name: 'Search messages' }).isVisible()) fail('list shown beside the conversation');
      await p.getByRole('button', { name: 'Back to conversations' }).click();
      await p.getByTestId('conversation').first().waitFor();
    },
  },
  {
    name: 'empty',
    scenario: 'empty',
    check: (p) => text(p, 'No conversations yet.'),
  },
  {
    name: 'hostile-chat',
    scenario: 'hostile',
    act: async (p) => {
      await p.getByTestId('conversation').first().waitFor();
      await p.getByTestId('conversation').filter({ hasText: 'evil' }).click();
      await p.getByTestId('timeline').waitFor();
    },
    check: async (p) => {
      for (const s of HOSTILE_TEXTS) await p.getByText(s, { exact: true }).first().waitFor();
      await p.getByText('evil\u202Egnp.exe').first().waitFor();
      await p.getByText('https://tern.example/\u202Eexe.gnp').first().waitFor();
      await p.getByText('\u2067see https://tern.example/ok\u2069').first().waitFor();
      if ((await p.getByRole('link').count()) !== 0) fail('a hostile string became a link');
      await inert(p);
    },
  },
  {
    name: 'chat-draft',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await composer(p).fill('half-written thought');
      await openChat(p, 'The Nurse');
      if ((await composer(p).inputValue()) !== '') fail('draft leaked into another conversation');
      await openChat(p, 'Juliet Capulet');
    },
    check: async (p) => {
      if ((await composer(p).inputValue()) !== 'half-written thought') fail('draft lost');
      // Message actions are reachable from the keyboard.
      await p.locator('[data-testid=message][data-id="9"]').getByRole('button', { name: 'Reply' }).focus();
      await p.keyboard.press('Enter');
      await p.getByTestId('composer-context').waitFor();
    },
  },
  {
    name: 'chat-emoji',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      const field = composer(p);
      await field.fill('See you  soon');
      // The caret between the two spaces: the emoji goes there.
      await field.evaluate((t) => t.setSelectionRange(8, 8));
      await p.getByRole('button', { name: 'Emoji', exact: true }).click();
      const panel = p.getByRole('dialog', { name: 'Emoji' });
      await panel.getByRole('tab', { name: 'Smileys & emotion' }).waitFor();
      await panel.getByRole('button', { name: 'grinning face', exact: true }).waitFor();
      await p.screenshot({ path: join(shots, `chat-emoji-group-${await theme(p)}.png`) });
      await p.keyboard.type('red heart');
      await panel.getByRole('button', { name: 'red heart', exact: true }).click();
      if ((await field.inputValue()) !== 'See you ❤️ soon') fail(`inserted: ${await field.inputValue()}`);
      // Enter in the search picks the first hit.
      await panel.getByRole('searchbox', { name: 'Search emoji' }).fill('thumbs up');
      await p.keyboard.press('Enter');
      if (plain(await field.inputValue()) !== 'See you ❤👍 soon') fail(`second: ${await field.inputValue()}`);
      await panel.getByRole('searchbox', { name: 'Search emoji' }).fill('');
      await panel.getByRole('tab', { name: 'Recently used' }).click();
    },
    check: async (p) => {
      const panel = p.getByRole('dialog', { name: 'Emoji' });
      const recent = await panel.getByRole('group', { name: 'Recently used' }).getByRole('button').evaluateAll((b) => b.map((x) => x.textContent));
      if (plain(recent.join('')) !== '👍❤') fail(`recent: ${recent.join(' ')}`);
      const saved = await p.evaluate(() => JSON.parse(localStorage.getItem('tern.emoji.recent')));
      if (plain(saved.join('')) !== '👍❤') fail(`saved: ${JSON.stringify(saved)}`);
      // Arrow keys move through the grid.
      await panel.getByRole('button', { name: 'thumbs up' }).focus();
      await p.keyboard.press('ArrowRight');
      if ((await p.evaluate(() => document.activeElement?.getAttribute('aria-label'))) !== 'red heart') fail('arrow keys');
      await p.waitForTimeout(50);
      await p.screenshot({ path: join(shots, `chat-emoji-recent-${await theme(p)}.png`) });
      // Escape closes it and the caret is back after the inserted emoji.
      await p.keyboard.press('Escape');
      await panel.waitFor({ state: 'detached' });
      await p.keyboard.type('!');
      if (plain(await composer(p).inputValue()) !== 'See you ❤👍! soon') fail(`caret: ${await composer(p).inputValue()}`);
      // A click in the text while the panel is open closes it and puts the
      // caret where the click was.
      await p.getByRole('button', { name: 'Emoji', exact: true }).click();
      await p.getByRole('dialog', { name: 'Emoji' }).waitFor();
      await composer(p).click({ position: { x: 6, y: 12 } });
      await p.getByRole('dialog', { name: 'Emoji' }).waitFor({ state: 'detached' });
      await p.waitForTimeout(50);
      await p.keyboard.type('>');
      if (!(await composer(p).inputValue()).startsWith('>See you')) fail(`click caret: ${await composer(p).inputValue()}`);
    },
  },
  {
    name: 'chat-stranger',
    scenario: 'chats',
    act: async (p) => {
      await p.getByRole('button', { name: 'New conversation' }).click();
      await p.getByLabel('Address').fill('Stranger@Elsewhere.example');
      await p.getByRole('button', { name: 'Open' }).click();
    },
    check: async (p) => {
      await p.getByTestId('stranger').waitFor();
      await text(p, 'No messages yet.');
      await p.getByRole('button', { name: 'Block' }).click();
      const b = await calledWith(p, 'block');
      if (b.jid !== 'stranger@elsewhere.example') fail(JSON.stringify(b));
      await text(p, 'You blocked stranger@elsewhere.example');
    },
  },
  {
    name: 'hostile-contacts',
    scenario: 'hostile',
    act: (p) => p.getByRole('button', { name: /^Contacts/ }).click(),
    check: async (p) => {
      await p.getByText('<img src=x onerror="window.__pwned = 2">').first().waitFor();
      await p.getByText('x<img src=x onerror=window.__pwned=6>@evil.example').first().waitFor();
      await p.getByText(/<script>window.__pwned = 1<\/script>/).first().waitFor();
      await p.getByText('<b onmouseover=window.__pwned=7>Nick</b>').first().waitFor();
      await inert(p);
    },
  },
];
// What a new device shows while it starts and fetches history (the first
// frame, progress, incomplete search), and how people and ticks look.
const ALICE = 'alice@example.org';
const WORK = 'work.account.with.a.long.name@chat.example-company.com';
const SCRIPTS = /\.js(\?.*)?$/;
const historySync = (p, account, fetched, oldest_ms, done = false) =>
  p.evaluate((ev) => window.__send({ type: 'history_sync', ...ev }), { account, fetched, oldest_ms, done });
/** Noon on 3 January of this year. */
const jan3 = () => {
  const d = new Date();
  d.setMonth(0, 3);
  d.setHours(12, 0, 0, 0);
  return d.getTime();
};
/** "2,300 messages, back to Jan 3" as the page's locale writes it. */
const progressText = (p, n, t) =>
  p.evaluate(([n, t]) => `${new Intl.NumberFormat().format(n)} messages, back to ${new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' }).format(t)}`, [n, t]);
const historyLines = (p) => p.getByTestId('history-progress').locator('p').evaluateAll((ps) => ps.map((e) => e.textContent.replace(/\s+/g, ' ').trim()));
/** Each progress line is one line, within the list. */
const fitsLines = async (p) => {
  const bad = await p.getByTestId('history-progress').locator('p').evaluateAll((ps) => {
    const list = ps[0].closest('.list').getBoundingClientRect();
    // Only an address may be cut short (with an ellipsis).
    const cut = (e, c) => !c.matches('bdi') && (c.scrollWidth > c.clientWidth || c.getBoundingClientRect().right > e.getBoundingClientRect().right + 0.5);
    return ps
      .filter((e) => e.getBoundingClientRect().height >= 20 || e.getBoundingClientRect().right > list.right || e.scrollWidth > e.clientWidth || [...e.children].some((c) => cut(e, c)))
      .map((e) => e.textContent.trim());
  });
  if (bad.length) fail(`progress lines wrap or overflow: ${JSON.stringify(bad)}`);
};
const INCOMPLETE = 'History is still loading, so some older messages may be missing.';
/** How far the newest message drawn is below the timeline's bottom edge (0 when in view at the bottom). */
const bottomGap = (p) =>
  p.getByTestId('timeline').evaluate((el) => {
    const last = [...el.querySelectorAll('[data-testid=message]')].at(-1);
    const below = last ? last.getBoundingClientRect().bottom - el.getBoundingClientRect().bottom : 0;
    return Math.round(Math.max(el.scrollHeight - el.scrollTop - el.clientHeight, below));
  });
const keepsBottom = async (p, what) => {
  try {
    await p.waitForFunction(() => {
      const el = document.querySelector('[data-testid=timeline]');
      const last = [...el.querySelectorAll('[data-testid=message]')].at(-1);
      return el.scrollHeight - el.scrollTop - el.clientHeight <= 2 && (!last || last.getBoundingClientRect().bottom <= el.getBoundingClientRect().bottom + 1);
    }, null, { timeout: 1500 });
  } catch {
    fail(`${what}: the newest message is ${await bottomGap(p)} px out of view`);
  }
};
const julietSays = (p, id, body) =>
  p.evaluate(([id, body]) => {
    const m = {
      id, account: 'alice@example.org', peer: 'juliet@capulet.example', outgoing: false, sender: 'juliet@capulet.example/phone', uid: `uid-${id}`,
      body, timestamp_ms: Date.now(), state: 'received', edited: false, retracted: false, reply_to: null, reactions: {}, me: false, failure: null, failure_text: null,
    };
    window.__send({ type: 'message', message: m });
    window.__send({ type: 'conversation', conversation: { account: m.account, peer: m.peer, kind: 'chat', unread: 1, updated_ms: m.timestamp_ms, last: m } });
  }, [id, body]);
const julietTyping = (p, state) =>
  p.evaluate((state) => window.__send({ type: 'chat_state', account: 'alice@example.org', peer: 'juliet@capulet.example', state }), state);
const activeCalls = (p) => p.evaluate(() => window.__calls.filter((c) => c.cmd === 'user_active').length);
/** Pixels of an element's screenshot that stand out from its background (its top-left pixel). */
const ink = async (p, locator) => {
  const png = (await locator.screenshot()).toString('base64');
  return p.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    const lum = (i) => 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    const bg = lum(0);
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (Math.abs(lum(i) - bg) > 40) n += 1;
    return n;
  }, png);
};
/** Initials and colour of an avatar. */
const avatarLook = (loc) => loc.evaluate((el) => ({ text: el.textContent.trim(), bg: getComputedStyle(el).backgroundColor }));

const newDeviceCases = [
  {
    // index.html as built, with every script answered empty: what the window
    // paints before any script runs.
    name: 'first-frame',
    path: 'index.html',
    mounted: false,
    before: (p) => p.route(SCRIPTS, (r) => r.fulfill({ contentType: 'text/javascript', body: '' })),
    check: async (p) => {
      await p.locator('#boot').waitFor();
      if ((await p.locator('#boot .boot-row').count()) < 5) fail('fewer than 5 placeholder rows');
      if ((await p.locator('#app').innerHTML()) !== '') fail('something mounted without scripts');
      // The CSP ('self') allows no inline script or style.
      const inline = await p.evaluate(() => document.querySelectorAll('script:not([src]), style, [style]').length);
      if (inline) fail(`${inline} inline scripts or styles`);
      const look = await p.evaluate(() => {
        const box = (s) => document.querySelector(s).getBoundingClientRect();
        const css = (s) => getComputedStyle(document.querySelector(s));
        return { bg: css('body').backgroundColor, nav: Math.round(box('.boot-nav').width), list: Math.round(box('.boot-list').width), avatar: box('.boot-avatar').width, grey: css('.boot-avatar').backgroundColor, brand: document.querySelector('.boot-brand').textContent };
      });
      const bg = (await theme(p)) === 'dark' ? 'rgb(21, 24, 27)' : 'rgb(246, 247, 248)';
      // 12.75rem and 19rem of 14px, as in the app (see first-frame-mount).
      if (look.bg !== bg || look.nav !== 179 || look.list !== 266 || look.avatar !== 40 || /rgba\(0, 0, 0, 0\)/.test(look.grey) || look.brand !== 'Tern')
        fail(`first frame drawn as ${JSON.stringify(look)}`);
    },
  },
  {
    // The harness starts like the app: the first frame until the scripts
    // run, then the app in its place.
    name: 'first-frame-mount',
    scenario: 'chats',
    mounted: false,
    waitUntil: 'commit',
    before: async (p) => {
      p.__held = [];
      await p.route(SCRIPTS, (r) => p.__held.push(r));
    },
    act: async (p) => {
      await p.locator('#boot .boot-row').first().waitFor();
      if ((await p.locator('#app > *').count()) !== 0) fail('the app mounted before its script ran');
      p.__frame = await p.evaluate(() => ['.boot-nav', '.boot-list'].map((s) => Math.round(document.querySelector(s).getBoundingClientRect().width)));
      await p.unroute(SCRIPTS);
      for (const r of p.__held) await r.continue();
    },
    check: async (p) => {
      await p.getByTestId('conversation').first().waitFor();
      await p.locator('#boot').waitFor({ state: 'detached' });
      // The placeholders stood where the app's navigation and list came.
      const app = await p.evaluate(() =>
        [document.querySelector('nav[aria-label=Main]'), document.querySelector('nav[aria-label=Conversations]').parentElement].map((e) => Math.round(e.getBoundingClientRect().width)),
      );
      if (JSON.stringify(app) !== JSON.stringify(p.__frame)) fail(`first frame ${p.__frame}, app ${app}`);
    },
  },
  {
    // Until the list comes, its rows are placeholders, not "No conversations yet".
    name: 'first-frame-list',
    scenario: 'chats-slow',
    check: async (p) => {
      await p.getByRole('searchbox', { name: 'Search messages' }).waitFor();
      if ((await p.getByTestId('conversations-loading').locator('.boot-row').count()) < 5) fail('no placeholder rows while the list loads');
      if (await p.getByText('No conversations yet.').count()) fail('"No conversations yet" before the list came');
      await p.screenshot({ path: join(shots, `first-frame-list-loading-${await theme(p)}.png`) });
      await p.getByTestId('conversation').first().waitFor();
      await p.getByTestId('conversations-loading').waitFor({ state: 'detached' });
    },
  },
  {
    name: 'history-progress',
    scenario: 'chats',
    act: async (p) => {
      await p.getByTestId('conversation').first().waitFor();
      await historySync(p, ALICE, 0, null);
    },
    check: async (p) => {
      const lines = async (want) => {
        try {
          await p.waitForFunction((want) => {
            const box = document.querySelector('[data-testid=history-progress]');
            const got = box ? [...box.querySelectorAll('p')].map((e) => e.textContent.replace(/\s+/g, ' ').trim()) : [];
            return JSON.stringify(got) === JSON.stringify(want);
          }, want, { timeout: 2000 });
        } catch {
          fail(`progress ${JSON.stringify(await historyLines(p).catch(() => []))}, wanted ${JSON.stringify(want)}`);
        }
      };
      await lines(['Loading history']);
      await historySync(p, ALICE, 2300, jan3());
      await lines(['Loading history', await progressText(p, 2300, jan3())]);
      // Quiet: small lines under the search field.
      const box = await p.getByTestId('history-progress').boundingBox();
      const search = await p.getByRole('searchbox', { name: 'Search messages' }).boundingBox();
      if (box.height > 40 || box.y < search.y + search.height) fail(`progress drawn at ${JSON.stringify(box)}`);
      await fitsLines(p);
      await historySync(p, ALICE, 4100, jan3() - 86_400_000 * 400);
      // From another year: with the year.
      const older = await p.evaluate(
        (t) => `${new Intl.NumberFormat().format(4100)} messages, back to ${new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' }).format(t)}`,
        jan3() - 86_400_000 * 400,
      );
      await lines(['Loading history', older]);
      await historySync(p, ALICE, 4100, jan3() - 86_400_000 * 400, true);
      await p.getByTestId('history-progress').waitFor({ state: 'detached' });
      // The next run, in the background.
      await historySync(p, ALICE, 120, jan3());
      await lines(['Loading history', await progressText(p, 120, jan3())]);
    },
  },
  {
    name: 'history-progress-accounts',
    scenario: 'main',
    act: async (p) => {
      await p.getByTestId('conversation').first().waitFor();
      await historySync(p, ALICE, 2300, jan3());
      await historySync(p, WORK, 15, null);
    },
    check: async (p) => {
      await p.getByTestId('history-progress').locator('p').nth(2).waitFor();
      const got = await historyLines(p);
      const want = ['Loading history', `${ALICE} · ${await progressText(p, 2300, jan3())}`, `${WORK} · 15 messages`];
      if (JSON.stringify(got) !== JSON.stringify(want)) fail(`progress ${JSON.stringify(got)}`);
      // One line each: a long address gives way, the numbers stay whole.
      await fitsLines(p);
      await historySync(p, WORK, 15, null, true);
      await p.getByTestId('history-progress').locator('p').nth(2).waitFor({ state: 'detached' });
      await historySync(p, WORK, 15, null);
    },
  },
  {
    name: 'search-incomplete',
    scenario: 'chats',
    act: async (p) => {
      await p.getByTestId('conversation').first().waitFor();
      await historySync(p, ALICE, 300, jan3());
      await p.getByRole('searchbox', { name: 'Search messages' }).fill('search');
    },
    check: async (p) => {
      await p.getByTestId('search-hit').first().waitFor();
      const note = p.getByTestId('search-incomplete');
      if ((await note.innerText()) !== INCOMPLETE) fail(`note: ${await note.innerText()}`);
      // Also when nothing matches.
      await p.getByRole('searchbox', { name: 'Search messages' }).fill('nothing like this');
      await text(p, 'No messages match');
      await note.waitFor();
      // Gone once the history is in.
      await historySync(p, ALICE, 300, jan3(), true);
      await note.waitFor({ state: 'detached' });
      await p.getByRole('searchbox', { name: 'Search messages' }).fill('search');
      await p.getByTestId('search-hit').first().waitFor();
      if (await note.count()) fail('the note stays after the history is in');
      await historySync(p, ALICE, 10, null);
      await note.waitFor();
    },
  },
  {
    name: 'chat-ticks',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await composer(p).fill('Ticked');
      await p.keyboard.press('Enter');
      await p.locator('[title="Sent to the server"]').last().waitFor();
    },
    check: async (p) => {
      const tick = (label) => p.locator(`[data-testid=message] [role=img][aria-label="${label}"]`).last();
      for (const label of ['Waiting to send', 'Sent to the server', 'Delivered', 'Read', 'Not sent']) {
        await tick(label).waitFor();
        if ((await tick(label).getAttribute('title')) !== label) fail(`${label}: title ${await tick(label).getAttribute('title')}`);
      }
      // By shape: one check, two checks, two checks cut out of a filled badge.
      const shape = (label) =>
        tick(label).evaluate((el) => `${el.querySelectorAll('svg .line').length} lines, ${el.querySelectorAll('svg .fill').length} filled, ${el.querySelectorAll('svg .knock').length} cut`);
      const shapes = { sent: await shape('Sent to the server'), delivered: await shape('Delivered'), read: await shape('Read') };
      if (shapes.sent !== '1 lines, 0 filled, 0 cut' || shapes.delivered !== '2 lines, 0 filled, 0 cut' || shapes.read !== '0 lines, 1 filled, 2 cut')
        fail(`shapes ${JSON.stringify(shapes)}`);
      // In greyscale and one colour for all, they still differ: read carries
      // far more ink than delivered, delivered more than sent.
      const style = await p.addStyleTag({ content: 'html { filter: grayscale(1) } [data-testid=message] [role=img] { color: #808080 !important }' });
      const seen = { sent: await ink(p, tick('Sent to the server')), delivered: await ink(p, tick('Delivered')), read: await ink(p, tick('Read')) };
      await style.evaluate((el) => el.remove());
      if (!(seen.read > 2 * seen.delivered && seen.delivered > 1.3 * seen.sent)) fail(`ink in greyscale ${JSON.stringify(seen)}`);
    },
  },
  {
    name: 'chat-people',
    scenario: 'chats-people',
    act: (p) => openChat(p, 'Bob 1'),
    check: async (p) => {
      const list = await avatarLook(p.getByTestId('conversation').filter({ hasText: 'Bob 1' }).locator('.avatar'));
      const header = await avatarLook(p.getByRole('region', { name: 'Conversation with Bob 1' }).locator('header .avatar'));
      if (list.text !== 'B1' || header.text !== 'B1' || list.bg !== header.bg) fail(`list ${JSON.stringify(list)}, header ${JSON.stringify(header)}`);
      const demo = await avatarLook(p.getByTestId('conversation').filter({ hasText: 'Juliet (demo)' }).locator('.avatar'));
      if (demo.text !== 'JD') fail(`"Juliet (demo)" shows ${demo.text}`);
      const heads = () =>
        p.locator('[data-testid=message]:has(.head)').evaluateAll((ms) =>
          ms.map((m) => {
            const a = m.querySelector('.gutter .avatar');
            return { name: m.querySelector('.head .name').textContent, text: a.textContent.trim(), bg: getComputedStyle(a).backgroundColor, out: m.classList.contains('out') };
          }),
        );
      const same = async (when) => {
        const hs = await heads();
        const theirs = hs.filter((h) => !h.out);
        const mine = hs.filter((h) => h.out);
        if (theirs.length < 2 || mine.length < 2) fail(`${when}: ${hs.length} message groups`);
        for (const h of theirs) if (h.name !== 'Bob 1' || h.text !== 'B1' || h.bg !== list.bg) fail(`${when}: Bob's message shows as ${JSON.stringify(h)}`);
        for (const h of mine) if (h.name !== 'You' || h.text !== mine[0].text || h.bg !== mine[0].bg) fail(`${when}: own messages differ: ${JSON.stringify(mine)}`);
      };
      await same('archived');
      // Live ones: from another of Bob's devices, and from this computer.
      await p.evaluate(() => {
        const base = { account: 'alice@example.org', peer: 'bob1@example.net', edited: false, retracted: false, reply_to: null, reactions: {}, me: false, failure: null, failure_text: null };
        const t = Date.now();
        window.__send({ type: 'message', message: { ...base, id: 9101, outgoing: false, sender: 'bob1@example.net/tablet', uid: 'u9101', body: 'Now on my tablet', timestamp_ms: t, state: 'received' } });
        window.__send({ type: 'message', message: { ...base, id: 9102, outgoing: true, sender: 'alice@example.org/tern.4f2a1c', uid: 'u9102', body: 'Live from here', timestamp_ms: t + 1, state: 'acked' } });
      });
      await text(p, 'Live from here');
      await same('live');
    },
  },
  {
    name: 'chat-typing-bottom',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await keepsBottom(p, 'opened');
    },
    check: async (p) => {
      await julietTyping(p, 'composing');
      await p.locator('.typing-line').waitFor();
      await keepsBottom(p, 'typing line shown');
      // Her message comes (and the typing line goes with it).
      await julietSays(p, 9001, 'There you are!');
      await p.locator('[data-testid=message][data-id="9001"]').waitFor();
      await keepsBottom(p, 'a message came');
      await julietTyping(p, 'composing');
      await p.locator('.typing-line').waitFor();
      await keepsBottom(p, 'typing again');
      await julietTyping(p, 'paused');
      await p.locator('.typing-line').waitFor({ state: 'detached' });
      await keepsBottom(p, 'typing line gone');
      // Scrolled up: the view stays where the user left it.
      await p.getByTestId('timeline').evaluate((el) => (el.scrollTop = 0));
      await p.waitForTimeout(100);
      await julietTyping(p, 'composing');
      await p.locator('.typing-line').waitFor();
      await p.waitForTimeout(100);
      const top = await p.getByTestId('timeline').evaluate((el) => el.scrollTop);
      if (top !== 0) fail(`scrolled to ${top} when the typing line came`);
      await p.getByRole('button', { name: 'Jump to the latest message' }).click();
      await keepsBottom(p, 'back at the latest');
    },
  },
  {
    name: 'user-active',
    scenario: 'paged',
    act: async (p) => {
      await openChat(p, 'Romeo');
      await p.waitForTimeout(1100);
    },
    check: async (p) => {
      // Opening, loading and following new messages are not the user's doing.
      if (await activeCalls(p)) fail(`user_active sent ${await activeCalls(p)} times without the user`);
      await p.evaluate(() => {
        const m = { id: 9201, account: 'alice@example.org', peer: 'romeo@montague.example', outgoing: false, sender: 'romeo@montague.example', uid: 'u9201', body: 'A new one', timestamp_ms: Date.now(), state: 'received', edited: false, retracted: false, reply_to: null, reactions: {}, me: false, failure: null, failure_text: null };
        window.__send({ type: 'message', message: m });
      });
      await text(p, 'A new one');
      // Nor the typing line coming and going under the list.
      for (const state of ['composing', 'paused']) {
        await p.evaluate((state) => window.__send({ type: 'chat_state', account: 'alice@example.org', peer: 'romeo@montague.example', state }), state);
        await p.locator('.typing-line').waitFor({ state: state === 'composing' ? 'visible' : 'detached' });
        await p.waitForTimeout(150);
      }
      await p.waitForTimeout(300);
      if (await activeCalls(p)) fail(`user_active sent ${await activeCalls(p)} times when a message came or the typing line moved`);
      // Scrolling: once, however many wheel turns in that second.
      const box = await p.getByTestId('timeline').boundingBox();
      await p.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      for (let i = 0; i < 6; i++) await p.mouse.wheel(0, -120);
      await p.waitForFunction(() => window.__calls.some((c) => c.cmd === 'user_active'));
      await p.waitForTimeout(200);
      if ((await activeCalls(p)) !== 1) fail(`user_active sent ${await activeCalls(p)} times for one second of scrolling`);
      // Typing, a second later: once more.
      await p.waitForTimeout(1000);
      await composer(p).pressSequentially('hello');
      await p.waitForTimeout(100);
      if ((await activeCalls(p)) !== 2) fail(`user_active sent ${await activeCalls(p)} times after typing`);
    },
  },
];

const openAccounts = (page) => page.getByRole('button', { name: /^Accounts/ }).click();

// Frames while the lists take changes: requestAnimationFrame intervals, and
// the frames Chromium reports as long (long-animation-frame entries, 50 ms
// or more of work for one frame).
const startFrames = (p) =>
  p.evaluate(() => {
    const f = { deltas: [], long: [], running: true, observers: [] };
    const tick = (t) => {
      if (!f.running) return;
      f.deltas.push(t - f.last);
      f.last = t;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame((t) => {
      f.last = t;
      requestAnimationFrame(tick);
    });
    f.detail = [];
    const take = (entries) => {
      for (const e of entries) {
        f.long.push(e.duration);
        // Where the time went: scripts (by what ran them), style and layout, the rest.
        const scripts = e.scripts.map((x) => `${x.invoker || x.invokerType} ${Math.round(x.duration)}`).join(', ');
        f.detail.push(
          `${Math.round(e.duration)} ms: scripts [${scripts}], rendering ${Math.round(e.startTime + e.duration - (e.renderStart || e.startTime + e.duration))} ms (style and layout ${Math.round(e.styleAndLayoutStart ? e.startTime + e.duration - e.styleAndLayoutStart : 0)} ms)`,
        );
      }
    };
    f.take = take;
    const o = new PerformanceObserver((l) => take(l.getEntries()));
    o.observe({ type: 'long-animation-frame' });
    f.observers.push(o);
    window.__frames = f;
  });
const stopFrames = async (p) => {
  await p.waitForTimeout(200);
  return p.evaluate(() => {
    const f = window.__frames;
    f.running = false;
    for (const o of f.observers) {
      f.take(o.takeRecords());
      o.disconnect();
    }
    return { deltas: f.deltas, long: f.long, detail: f.detail };
  });
};
const frameStats = ({ deltas, long, detail }) => {
  const sorted = [...deltas].sort((a, b) => a - b);
  const r = (x) => Math.round(x * 10) / 10;
  return {
    frames: deltas.length,
    max: r(sorted.at(-1) ?? 0),
    p95: r(sorted[Math.floor(sorted.length * 0.95)] ?? 0),
    long: long.length,
    longMax: r(Math.max(0, ...long)),
    detail,
  };
};
const LIMIT_MS = 50;
const report = (what, stats) => {
  console.log(
    `      ${what}: ${stats.frames} frames, interval max ${stats.max} ms, p95 ${stats.p95} ms; long frames ${stats.long} (longest ${stats.longMax} ms); load ${loadavg()[0].toFixed(1)}`,
  );
  for (const d of stats.detail) console.log(`        long frame ${d}`);
};
/**
 * Runs `changes(attempt)` while measuring frames; fails when a frame has
 * more than LIMIT_MS of work. Times are wall-clock, so a frame can also be
 * long because other processes had the CPU (this machine builds Rust
 * meanwhile): a long frame is measured again, up to three attempts in all.
 * Slow code shows in every attempt.
 */
const measureFrames = async (p, what, changes) => {
  for (let attempt = 1; ; attempt++) {
    await p.waitForTimeout(300);
    await startFrames(p);
    await changes(attempt);
    const stats = frameStats(await stopFrames(p));
    report(attempt > 1 ? `${what}, attempt ${attempt}` : what, stats);
    if (stats.longMax <= LIMIT_MS) return;
    if (attempt === 3) fail(`${what}: a frame took ${stats.longMax} ms, in each of 3 attempts`);
  }
};

const largeCases = [
  {
    name: 'large-lists',
    scenario: 'large',
    check: async (p) => {
      // The conversation list: 2,000 conversations, a few dozen drawn.
      const convs = p.getByTestId('conversation');
      await convs.first().waitFor();
      const drawn = await convs.count();
      if (drawn > 60) fail(`${drawn} conversations drawn`);
      await measureFrames(p, 'conversations (2,000)', async (n) => {
        // A new message moves conversation 1,500 + n (far down) to the top.
        await p.evaluate((n) => window.__sendBatch(window.__large.message(1500 + n, `Moved to the top ${n}`)), n);
        await p.getByTestId('conversation').first().getByText(`Moved to the top ${n}`).waitFor();
        await p.waitForTimeout(200);
        // Presence of someone shown (conversation 0's peer) and of someone far down.
        await p.evaluate((n) => window.__sendBatch([window.__large.presence(0, 'dnd', `In meeting ${n}`), window.__large.presence(3998, n % 2 ? 'away' : null)]), n);
        await p.waitForTimeout(200);
        // A burst: 200 events in one batch (new messages in 100 conversations).
        await p.evaluate((n) => window.__sendBatch(Array.from({ length: 100 }, (_, i) => window.__large.message(100 + n + i * 17, `Burst ${i}`)).flat()), n);
        await p.getByTestId('conversation').first().getByText('Burst 99').waitFor();
      });
      if ((await convs.count()) > 60) fail('more conversations drawn after the updates');
      // The arrow keys reach conversations that were not drawn yet, and Home the first.
      await convs.first().focus();
      for (let k = 0; k < 40; k++) await p.keyboard.press('ArrowDown');
      const at = await p.evaluate(() => document.activeElement?.closest('[aria-posinset]')?.getAttribute('aria-posinset'));
      if (at !== '41') fail(`focus on conversation ${at} after 40 × ArrowDown`);
      await p.keyboard.press('Home');
      await p.waitForTimeout(50);
      if (!(await p.evaluate(() => document.activeElement?.textContent?.includes('Burst 99')))) fail('Home did not reach the first conversation');

      // The contact list: 5,000 contacts in groups, a few dozen drawn.
      await startFrames(p);
      const t0 = await p.evaluate(() => performance.now());
      await p.getByRole('button', { name: /^Contacts/ }).click();
      const contacts = p.getByTestId('contact');
      await contacts.first().waitFor();
      const t1 = await p.evaluate(() => performance.now());
      const opened = frameStats(await stopFrames(p));
      console.log(`      contacts shown ${Math.round(t1 - t0)} ms after the click (longest frame ${opened.longMax} ms; not checked)`);
      const shown = await contacts.count();
      if (shown > 60) fail(`${shown} contacts drawn`);
      const jid = await contacts.first().evaluate((el) => el.textContent.match(/user\d{4}@people\.example/)?.[0]);
      const i = Number(jid?.slice(4, 8));
      if (!Number.isInteger(i)) fail(`no address in the first row: ${jid}`);
      await measureFrames(p, 'contacts (5,000)', async (n) => {
        // Someone in view comes online with a status; someone far down goes away.
        await p.evaluate(([i, n]) => window.__sendBatch([window.__large.presence(i, 'chat', `Just arrived ${n}`)]), [i, n]);
        await contacts.first().getByText(`Just arrived ${n}`).waitFor();
        await p.waitForTimeout(200);
        await p.evaluate((n) => window.__sendBatch([window.__large.presence(4321, 'away', `Far away ${n}`)]), n);
        await p.waitForTimeout(200);
        // A burst: 200 presence changes in one batch, in view and out of it.
        await p.evaluate(
          ([i, n]) =>
            window.__sendBatch([
              ...Array.from({ length: 199 }, (_, k) => window.__large.presence((k * 25 + n) % 5000, (k + n) % 2 ? 'away' : null)),
              window.__large.presence(i, 'dnd', `After the burst ${n}`),
            ]),
          [i, n],
        );
        await contacts.first().getByText(`After the burst ${n}`).waitFor();
      });
      // Scrolling a third of the way down, a screen at a time (for the record).
      await startFrames(p);
      const list = p.getByRole('list', { name: 'Contacts' });
      for (let k = 0; k < 20; k++) {
        await list.evaluate((el) => (el.scrollTop += el.clientHeight));
        await p.waitForTimeout(20);
      }
      await list.evaluate((el) => (el.scrollTop = el.scrollHeight / 3));
      const scrolled = frameStats(await stopFrames(p));
      console.log(`      scrolling: interval max ${scrolled.max} ms, p95 ${scrolled.p95} ms; long frames ${scrolled.long} (longest ${scrolled.longMax} ms; not checked)`);
      // Still only what is in view, and the keys move through the list.
      if ((await contacts.count()) > 60) fail('more contacts drawn after the updates');
      await contacts.first().getByRole('button').first().focus();
      for (let k = 0; k < 30; k++) await p.keyboard.press('ArrowDown');
      const focused = await p.evaluate(() => document.activeElement?.getAttribute('aria-label'));
      if (!focused?.startsWith('Message ')) fail(`focus on ${focused}`);
      await p.keyboard.press('End');
      await p.waitForTimeout(100);
      const last = await p.evaluate(() => document.activeElement?.closest('[data-testid=contact]')?.textContent ?? '');
      if (!last) fail('End did not reach the last contact');
    },
  },
];

// Group chats (scenario `rooms`, tests/screens/rooms.ts).
const TEA = 'tea@conference.example.org';
const openRoom = async (p, name) => {
  await p.getByRole('button', { name: new RegExp(`^${name}`) }).first().click();
  await p.getByRole('region', { name: `Group chat ${name}` }).waitFor();
  await p.getByTestId('timeline').waitFor();
};
const openJoin = async (p) => {
  await p.getByRole('button', { name: 'New group chat' }).click();
  await p.getByRole('menuitem', { name: 'Join a group chat…' }).click();
  await p.getByRole('dialog', { name: 'Join a group chat' }).waitFor();
};
const joinError = async (p, address, expected, nick = null) => {
  const d = p.getByRole('dialog', { name: 'Join a group chat' });
  await d.getByLabel('Address').fill(address);
  if (nick !== null) await d.getByLabel('Nickname').fill(nick);
  await d.getByRole('button', { name: 'Join', exact: true }).click();
  const shown = await d.getByTestId('join-error').innerText();
  if (shown !== expected) fail(`joining ${address}: ${JSON.stringify(shown)}, expected ${JSON.stringify(expected)}`);
};
const roomCases = [
  {
    name: 'rooms-list',
    scenario: 'rooms',
    check: async (p) => {
      await p.getByTestId('conversation').first().waitFor();
      await p.getByRole('button', { name: 'Lobby, 12 unread, 1 mention' }).waitFor();
      // The lobby notifies of mentions only: its one mention counts, not its 12 messages.
      await p.getByRole('button', { name: 'Conversations, 4 unread' }).waitFor();
      const badge = await p.getByRole('button', { name: /^Lobby/ }).getByTestId('mention-badge').innerText();
      if (badge !== '@1') fail(`mention badge ${badge}`);
      await p.getByRole('button', { name: /^Old club/ }).getByText('You were removed').waitFor();
      await p.getByRole('button', { name: /^Tea room/ }).getByRole('img', { name: 'Private group' }).waitFor();
      await p.getByRole('button', { name: /^Lobby/ }).getByRole('img', { name: 'Public channel' }).waitFor();
      // A contact's invitation is a card; a stranger's waits to be opened.
      const card = p.getByTestId('invitation');
      await card.getByText('Come to the party tonight!').waitFor();
      await card.getByText('juliet', { exact: false }).first().waitFor();
      if (await p.getByTestId('invitation-request').count()) fail('a stranger’s invitation shown open');
      await p.getByTestId('invitation-requests').click();
      await p.getByTestId('invitation-request').getByText('mallory@evil.example').waitFor();
    },
  },
  {
    name: 'rooms-open',
    scenario: 'rooms',
    act: (p) => openRoom(p, 'Tea room'),
    check: async (p) => {
      await p.getByTestId('room-subject').getByText('Tea, biscuits', { exact: false }).waitFor();
      await p.getByRole('button', { name: 'People, 6' }).waitFor();
      // No calls in group chats.
      if (await p.getByRole('button', { name: /call/i }).count()) fail('a call button in a group chat');
      // A private group is encrypted for its members' devices: its lock says so.
      await p.getByRole('button', { name: 'Encrypted for 5 members’ 9 devices and your other device', exact: true }).waitFor();
      // A removed message says who removed it and why, not what it said.
      const removed = await p.getByTestId('moderated').innerText();
      if (removed !== 'Removed by Ann: Spam links') fail(`moderated message shows ${JSON.stringify(removed)}`);
      // The mention stands out, and the nick in it is bold.
      const mention = p.locator('[data-testid=message][data-id="7001"]');
      if (!(await mention.evaluate((el) => el.classList.contains('mention')))) fail('the mention is not highlighted');
      const bold = await mention.locator('strong.mention').innerText();
      if (bold !== 'alice') fail(`bold in the mention: ${bold}`);
      // Nicks have colours of their own (XEP-0392), the same for the same nick.
      const colour = (id) => p.locator(`[data-testid=message][data-id="${id}"] .name`).evaluate((el) => getComputedStyle(el).color);
      const bob = await colour(7003);
      const eve = await colour(7004);
      if (bob === eve) fail('two nicks in one colour');
      // Joins and leaves fold into one quiet line.
      await p.evaluate(() => {
        const r = window.__rooms;
        window.__send(r.activity(['Zoe', 'Yan'], []));
        window.__send(r.activity(Array.from({ length: 12 }, (_, i) => `Guest${i}`), ['Cy']));
        window.__send(r.activity([], [], [{ from: 'Dee', to: 'Deirdre' }]));
      });
      const line = await p.getByTestId('room-activity').innerText();
      if (line !== 'Zoe, Yan and 12 others joined · Cy left · Dee is now Deirdre') fail(`activity line: ${line}`);
      if ((await p.getByTestId('room-activity').count()) !== 1) fail('activity not folded into one line');
    },
  },
  {
    name: 'rooms-lock',
    scenario: 'rooms',
    act: async (p) => {
      await openRoom(p, 'Tea room');
      await p.getByTestId('lock').click();
    },
    check: async (p) => {
      const pop = p.getByTestId('lock-popover');
      await pop.waitFor();
      const text = await pop.innerText();
      if (!text.includes('Encrypted for 5 members’ 9 devices and your other device')) fail(`popover says ${JSON.stringify(text)}`);
      if (!(await pop.getByRole('checkbox', { name: 'Encrypt messages' }).isChecked())) fail('the switch is off');
      // Each member's keys are in their own conversation, not here.
      if (await pop.getByRole('button', { name: /encryption keys/ }).count()) fail('a keys link in a group');
      await p.screenshot({ path: join(shots, `rooms-lock-${await theme(p)}.png`) });
    },
  },
  {
    name: 'rooms-members',
    scenario: 'rooms',
    act: async (p) => {
      await openRoom(p, 'Tea room');
      await p.getByRole('button', { name: 'Group chat menu' }).click();
      await p.getByRole('menu', { name: 'Group chat menu' }).getByRole('menuitem', { name: 'Who belongs…' }).click();
    },
    check: async (p) => {
      const d = p.getByRole('dialog', { name: 'Who belongs to Tea room' });
      await d.getByText('troll@evil.example').waitFor();
      if ((await d.getByTestId('room-member').count()) !== 4) fail('not every member listed');
      await p.screenshot({ path: join(shots, `rooms-members-dialog-${await theme(p)}.png`) });
      await d.getByRole('button', { name: 'Lift the ban' }).click();
      let args = await calledWith(p, 'set_affiliation');
      if (args.jid !== 'troll@evil.example' || args.affiliation !== 'none') fail(JSON.stringify(args));
      await d.getByRole('textbox').fill('new@example.org');
      await d.getByRole('button', { name: 'Add' }).click();
      await p.waitForFunction(() => window.__calls.filter((c) => c.cmd === 'set_affiliation').at(-1)?.args.jid === 'new@example.org');
      args = await calledWith(p, 'set_affiliation');
      if (args.affiliation !== 'member') fail(JSON.stringify(args));
      await d.getByRole('button', { name: 'Close' }).click();
      await d.waitFor({ state: 'detached' });
      // The owner's settings: name and kind.
      await p.getByRole('button', { name: 'Group chat menu' }).click();
      await p.getByRole('menu', { name: 'Group chat menu' }).getByRole('menuitem', { name: 'Settings…' }).click();
      const s = p.getByRole('dialog', { name: 'Group chat settings' });
      await s.getByRole('textbox').fill('Tea house');
      await s.getByText('Public channel').click();
      await p.screenshot({ path: join(shots, `rooms-settings-${await theme(p)}.png`) });
      await s.getByRole('button', { name: 'Save' }).click();
      args = await calledWith(p, 'configure_room');
      if (args.name !== 'Tea house' || args.kind !== 'public_channel') fail(JSON.stringify(args));
      await s.waitFor({ state: 'detached' });
    },
  },
  {
    name: 'rooms-menu',
    scenario: 'rooms',
    act: async (p) => {
      await openRoom(p, 'Tea room');
      await p.getByRole('button', { name: 'Group chat menu' }).click();
    },
    check: async (p) => {
      const menu = p.getByRole('menu', { name: 'Group chat menu' });
      await menu.getByRole('menuitemradio', { name: 'All messages' }).waitFor();
      if ((await menu.getByRole('menuitemradio', { name: 'All messages' }).getAttribute('aria-checked')) !== 'true') fail('notify setting not shown');
      await menu.getByRole('menuitem', { name: 'Destroy the group chat…' }).waitFor();
      await p.waitForTimeout(50);
      await p.screenshot({ path: join(shots, `rooms-menu-open-${await theme(p)}.png`) });
      await menu.getByRole('menuitemradio', { name: 'Mentions only' }).click();
      const args = await calledWith(p, 'set_room_notify');
      if (args.notify !== 'mentions' || args.room !== TEA) fail(JSON.stringify(args));
      // Escape closes a menu; the focus goes back to its button.
      await p.getByRole('button', { name: 'Group chat menu' }).click();
      await menu.waitFor();
      await p.keyboard.press('Escape');
      await menu.waitFor({ state: 'detached' });
      await p.getByRole('button', { name: 'Group chat menu' }).click();
      await menu.getByRole('menuitem', { name: 'Invite people…' }).click();
      const d = p.getByRole('dialog', { name: 'Invite to Tea room' });
      await d.getByRole('searchbox', { name: 'Search contacts' }).fill('jul');
      await d.getByTestId('invite-contact').first().click();
      await d.getByLabel('Message (optional)').fill('Tea?');
      await d.getByRole('button', { name: 'Invite', exact: true }).click();
      const inv = await calledWith(p, 'invite_to_room');
      if (inv.jids.join() !== 'juliet@capulet.example' || inv.reason !== 'Tea?') fail(JSON.stringify(inv));
    },
  },
  {
    name: 'rooms-kick',
    scenario: 'rooms',
    act: async (p) => {
      await openRoom(p, 'Tea room');
      await p.getByRole('button', { name: 'People, 6' }).click();
      await p.getByTestId('occupant-panel').getByRole('button', { name: /^Bob/ }).click();
    },
    check: async (p) => {
      const menu = p.getByRole('menu', { name: 'Actions for Bob' });
      await menu.getByRole('menuitem', { name: 'Message privately' }).waitFor();
      await menu.getByRole('menuitem', { name: 'Ban…' }).waitFor();
      await p.waitForTimeout(50);
      await p.screenshot({ path: join(shots, `rooms-occupant-menu-${await theme(p)}.png`) });
      await menu.getByRole('menuitem', { name: 'Remove from the group chat…' }).click();
      const d = p.getByRole('dialog', { name: 'Remove Bob?' });
      await d.getByLabel('Reason (optional)').fill('Too many biscuits');
      await d.getByRole('button', { name: 'Remove', exact: true }).click();
      const args = await calledWith(p, 'kick_occupant');
      if (args.account !== 'alice@example.org' || args.room !== TEA || args.nick !== 'Bob' || args.reason !== 'Too many biscuits') fail(JSON.stringify(args));
      await d.waitFor({ state: 'detached' });
      // The list is grouped by role; right-click opens the same menu.
      const groups = await p.getByTestId('occupant-panel').locator('h3').allTextContents();
      if (groups.join('|') !== 'Moderators 2|Participants 3|Visitors 1') fail(`groups ${groups.join('|')}`);
      await p.getByTestId('occupant-panel').getByRole('button', { name: /^Dee/ }).click({ button: 'right' });
      await p.getByRole('menu', { name: 'Actions for Dee' }).getByRole('menuitem', { name: 'Let them speak' }).click();
      await p.getByRole('dialog', { name: 'Let Dee speak?' }).getByRole('button', { name: 'Let them speak' }).click();
      const role = await calledWith(p, 'set_occupant_role');
      if (role.nick !== 'Dee' || role.role !== 'participant') fail(JSON.stringify(role));
    },
  },
  {
    name: 'rooms-private',
    scenario: 'rooms',
    act: async (p) => {
      await openRoom(p, 'Tea room');
      await p.getByRole('button', { name: 'People, 6' }).click();
      await p.getByTestId('occupant-panel').getByRole('button', { name: /^Eve/ }).click();
      await p.getByRole('menu', { name: 'Actions for Eve' }).getByRole('menuitem', { name: 'Message privately' }).click();
    },
    check: async (p) => {
      const region = p.getByRole('region', { name: 'Conversation with Eve (Tea room)' });
      await region.getByText('Private message in a group chat').waitFor();
      if (await p.getByTestId('stranger').count()) fail('an occupant shown as a stranger');
      if (await p.getByTestId('lock').count()) fail('a lock in a private message in a group chat');
      await composer(p).fill('Psst');
      await composer(p).press('Enter');
      const args = await calledWith(p, 'send_message');
      if (args.draft.peer !== `${TEA}/Eve`) fail(JSON.stringify(args.draft));
      await region.getByText('Psst').waitFor();
      await p.getByRole('button', { name: /^Eve \(Tea room\)/ }).waitFor();
    },
  },
  {
    name: 'rooms-moderate',
    scenario: 'rooms',
    act: async (p) => {
      await openRoom(p, 'Tea room');
      const m = p.locator('[data-testid=message][data-id="7003"]');
      await m.hover();
      await m.getByRole('button', { name: 'Remove for everyone…' }).click();
    },
    check: async (p) => {
      const d = p.getByRole('dialog', { name: 'Remove this message for everyone?' });
      await d.getByLabel('Reason (optional)').fill('Off topic');
      await d.getByRole('button', { name: 'Remove', exact: true }).click();
      const args = await calledWith(p, 'moderate_message');
      if (args.id !== 7003 || args.reason !== 'Off topic') fail(JSON.stringify(args));
      await p.locator('[data-testid=message][data-id="7003"]').getByText('Removed by alice: Off topic').waitFor();
      // Own messages are deleted, not moderated; others' cannot be deleted.
      const own = p.locator('[data-testid=message]').filter({ hasText: 'I did. Ginger ones.' });
      await own.hover();
      if (await own.getByRole('button', { name: 'Remove for everyone…' }).count()) fail('moderation offered on an own message');
    },
  },
  {
    name: 'rooms-mention-complete',
    scenario: 'rooms',
    act: async (p) => {
      await openRoom(p, 'Tea room');
      await composer(p).fill('');
      await composer(p).pressSequentially('@b');
    },
    check: async (p) => {
      const list = p.getByTestId('mention-list');
      const offered = await list.getByRole('option').allInnerTexts();
      if (offered.join() !== 'Bob') fail(`offered ${offered.join()}`);
      await p.waitForTimeout(50);
      await p.screenshot({ path: join(shots, `rooms-mention-list-${await theme(p)}.png`) });
      await p.keyboard.press('Tab');
      if ((await composer(p).inputValue()) !== 'Bob: ') fail(`composer ${JSON.stringify(await composer(p).inputValue())}`);
      await p.keyboard.type('see E');
      await p.keyboard.press('Tab');
      if ((await composer(p).inputValue()) !== 'Bob: see Eve ') fail(`composer ${JSON.stringify(await composer(p).inputValue())}`);
      // Several match: a list, the arrow keys move in it, Enter picks (and sends nothing).
      await p.keyboard.type('and @');
      const all = await list.getByRole('option').allInnerTexts();
      if (all.includes('alice') || all.length < 4) fail(`for "@": ${all.join()}`);
      await p.keyboard.press('ArrowDown');
      await p.keyboard.press('Enter');
      if (await p.evaluate(() => window.__calls.some((c) => c.cmd === 'send_message'))) fail('Enter sent the message');
      await p.keyboard.press('Enter');
      const sent = await calledWith(p, 'send_message');
      if (sent.draft.peer !== TEA || !/^Bob: see Eve and \S+ $/.test(sent.draft.body)) fail(JSON.stringify(sent.draft));
    },
  },
  {
    name: 'rooms-join-errors',
    scenario: 'rooms',
    act: openJoin,
    check: async (p) => {
      const d = p.getByRole('dialog', { name: 'Join a group chat' });
      if ((await d.getByLabel('Nickname').inputValue()) !== 'alice') fail('nickname not prefilled');
      await joinError(p, 'not an address', 'Enter an address like room@conference.example.org.');
      await joinError(p, 'banned@conference.example.org', 'You are banned from this group chat.');
      await joinError(p, 'members_only@conference.example.org', 'This group is for members only. Ask an admin to invite you.');
      await joinError(p, 'not_found@conference.example.org', 'No group chat at this address.');
      await joinError(p, 'full@conference.example.org', 'This group chat is full. Try again later.');
      await joinError(p, 'xmpp:conflict@conference.example.org?join', 'Someone in this group chat already uses that nickname. Choose another one.');
      if ((await p.evaluate(() => document.activeElement?.closest('label')?.textContent ?? '')).indexOf('Nickname') < 0) fail('the nickname field is not focused after a conflict');
      if (await d.getByLabel('Password').count()) fail('password field before it is needed');
      await joinError(p, 'secret@conference.example.org', 'This group chat needs a password.');
      await p.waitForTimeout(50);
      await p.screenshot({ path: join(shots, `rooms-join-password-${await theme(p)}.png`) });
      await d.getByLabel('Password').fill('open sesame');
      await d.getByRole('button', { name: 'Join', exact: true }).click();
      await p.getByRole('region', { name: 'Group chat secret' }).waitFor();
      const args = await calledWith(p, 'join_room');
      if (args.room !== 'secret@conference.example.org' || args.password !== 'open sesame' || args.nick !== 'alice') fail(JSON.stringify(args));
    },
  },
  {
    name: 'rooms-join-browse',
    scenario: 'rooms',
    act: async (p) => {
      await openJoin(p);
      await p.getByRole('button', { name: 'Browse' }).click();
      await p.getByTestId('room-listing').first().waitFor();
    },
    check: async (p) => {
      if ((await p.getByTestId('room-listing').count()) > 40) fail('the whole listing is drawn');
      await p.getByRole('searchbox', { name: 'Filter group chats' }).fill('number 12');
      await p.getByTestId('room-listing').filter({ hasText: 'Room number 124' }).click();
      if ((await p.getByLabel('Address').inputValue()) !== 'room124@conference.example.org') fail('listing did not fill the address');
    },
  },
  {
    name: 'rooms-create',
    scenario: 'rooms',
    act: async (p) => {
      await p.getByRole('button', { name: 'New group chat' }).click();
      await p.getByRole('menuitem', { name: 'Create a group chat…' }).click();
      const d = p.getByRole('dialog', { name: 'Create a group chat' });
      await d.getByLabel('Name').fill('Book club!');
      await p.waitForFunction(() => document.querySelector('dialog input[placeholder^="book-club"]')?.value === 'book-club@conference.example.org');
    },
    check: async (p) => {
      const d = p.getByRole('dialog', { name: 'Create a group chat' });
      await d.getByText('Members see each other’s addresses', { exact: false }).waitFor();
      await d.getByRole('radio', { name: /Public channel/ }).check();
      await p.waitForTimeout(50);
      await p.screenshot({ path: join(shots, `rooms-create-filled-${await theme(p)}.png`) });
      await d.getByRole('button', { name: 'Create', exact: true }).click();
      const args = await calledWith(p, 'create_room');
      if (args.name !== 'Book club!' || args.address !== 'book-club@conference.example.org' || args.kind !== 'public_channel') fail(JSON.stringify(args));
      await p.getByRole('region', { name: 'Group chat Book club!' }).waitFor();
    },
  },
  {
    name: 'rooms-invitation',
    scenario: 'rooms',
    act: (p) => p.getByTestId('invitation').getByRole('button', { name: 'Join party@conference.capulet.example' }).click(),
    check: async (p) => {
      const args = await calledWith(p, 'accept_invitation');
      if (args.room !== 'party@conference.capulet.example') fail(JSON.stringify(args));
      await p.getByRole('region', { name: 'Group chat party' }).waitFor();
      await p.getByTestId('invitation').waitFor({ state: 'detached' });
      // A stranger's invitation is opened in the join dialog, never joined by itself.
      await p.getByTestId('invitation-requests').click();
      await p.getByRole('button', { name: 'Review deals@rooms.evil.example' }).click();
      const d = p.getByRole('dialog', { name: 'Join a group chat' });
      if ((await d.getByLabel('Address').inputValue()) !== 'deals@rooms.evil.example') fail('invitation not in the join dialog');
      if ((await p.evaluate(() => window.__calls.filter((c) => c.cmd === 'join_room' || c.cmd === 'accept_invitation').length)) !== 1) fail('joined by itself');
    },
  },
  {
    name: 'rooms-banner',
    scenario: 'rooms',
    act: (p) => openRoom(p, 'Old club'),
    check: async (p) => {
      const banner = p.getByTestId('room-banner');
      await banner.getByText('You were removed from this group chat by Ann.').waitFor();
      await banner.getByText('Please keep it civil').waitFor();
      if (!(await composer(p).isDisabled())) fail('composer enabled while not in the room');
      await p.screenshot({ path: join(shots, `rooms-banner-removed-${await theme(p)}.png`) });
      await p.evaluate(() => window.__send(window.__rooms.room({ jid: 'tea@conference.example.org', status: 'failed', error: 'lost' })));
      await banner.getByRole('button', { name: 'Join again' }).click();
      const args = await calledWith(p, 'join_room');
      if (args.room !== 'old@conference.example.org' || args.nick !== 'alice') fail(JSON.stringify(args));
      await banner.waitFor({ state: 'detached' });
    },
  },
  {
    name: 'rooms-join-link',
    scenario: 'rooms',
    act: (p) => p.evaluate(() => window.__emit('tern://open-uri', { jid: 'coffee@conference.example.org', action: 'join', body: null, name: null })),
    check: async (p) => {
      const d = p.getByRole('dialog', { name: 'Join a group chat' });
      if ((await d.getByLabel('Address').inputValue()) !== 'coffee@conference.example.org') fail('link not in the join dialog');
      await p.keyboard.press('Escape');
      await d.waitFor({ state: 'detached' });
    },
  },
  {
    name: 'rooms-large',
    scenario: 'rooms',
    act: async (p) => {
      await openRoom(p, 'Lobby');
      await p.getByRole('button', { name: 'People, 5,000' }).click();
      await p.getByTestId('occupant').first().waitFor();
    },
    check: async (p) => {
      // A public channel is never encrypted: no lock, nothing asked.
      if (await p.getByTestId('lock').count()) fail('a lock in a public channel');
      if (await p.evaluate(() => window.__calls.some((c) => c.cmd === 'conversation_encryption' && c.args?.peer?.startsWith('lobby@')))) fail('encryption asked for a public channel');
      const rows = p.getByTestId('occupant');
      if ((await rows.count()) > 60) fail(`${await rows.count()} occupants drawn`);
      const groups = await p.getByTestId('occupant-panel').locator('h3').first().textContent();
      if (!groups.startsWith('Moderators')) fail(`first group ${groups}`);
      await measureFrames(p, 'occupants (5,000)', async (n) => {
        // Someone in view changes status.
        await p.evaluate((n) => window.__sendBatch([window.__rooms.presence(`Shown ${n}`)]), n);
        await p.getByTestId('occupant').getByText(`Shown ${n}`).waitFor();
        await p.waitForTimeout(200);
        // A burst: 50 coalesced events of 20 changes each, in one batch.
        await p.evaluate(() => window.__sendBatch(window.__rooms.burst(50)));
        await p.waitForTimeout(200);
        // And ten such batches in a row.
        for (let k = 0; k < 10; k++) await p.evaluate(() => window.__sendBatch(window.__rooms.burst(10)));
        await p.evaluate((n) => window.__sendBatch([window.__rooms.presence(`After ${n}`)]), n);
        await p.getByTestId('occupant').getByText(`After ${n}`).waitFor();
      });
      if ((await rows.count()) > 60) fail('more occupants drawn after the bursts');
      // Searching the 5,000.
      await p.getByRole('searchbox', { name: 'Search people' }).fill('newcomer');
      await p.getByTestId('occupant').first().getByText(/^Newcomer/).waitFor();
      await p.getByRole('searchbox', { name: 'Search people' }).fill('');
    },
  },
];

/** A `w`x`h` RGB PNG coloured by `rgb(x, y)`. */
function makePng(w, h, rgb) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const raw = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) raw.set(rgb(x, y), y * (1 + 3 * w) + 1 + 3 * x);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
/** 300x150: red on the left, blue on the right, a yellow dot left of centre. */
const PNG = makePng(300, 150, (x, y) => ((x - 110) ** 2 + (y - 75) ** 2 < 400 ? [250, 200, 0] : x < 150 ? [200, 40, 40] : [40, 70, 200]));
const cropDialog = (p) => p.getByRole('dialog', { name: 'Crop your picture' });
const openProfile = async (p) => {
  await openAccounts(p);
  await p.getByRole('button', { name: 'Edit profile…' }).click();
  await p.getByRole('dialog', { name: 'Your profile' }).waitFor();
};
/** The last call of `cmd`, waiting for one: a click's command may be sent
 *  only after the file it carries has been read. */
const lastCall = async (p, cmd) => {
  await p.waitForFunction((c) => window.__calls.some((x) => x.cmd === c), cmd);
  return p.evaluate((c) => {
    const x = window.__calls.filter((y) => y.cmd === c).at(-1);
    return x && { raw: x.args instanceof Uint8Array, size: x.args?.length ?? null, headers: x.headers ?? null, args: x.args instanceof Uint8Array ? null : x.args };
  }, cmd);
};
const openDetails = async (p, name) => {
  await p.getByRole('button', { name: /^Contacts/ }).click();
  await p.getByRole('button', { name: `Details of ${name}` }).first().click();
  await p.getByRole('dialog', { name: 'Contact details' }).waitFor();
};
const profileCases = [
  {
    name: 'profile-status',
    scenario: 'chats',
    act: async (p) => {
      const field = p.getByRole('textbox', { name: 'Status message' });
      await field.fill('Lunch');
      await text(p, 'Press Enter to set it');
      await field.press('Enter');
      const a = await calledWith(p, 'set_presence');
      if (a.account !== 'alice@example.org' || a.show !== 'available' || a.status !== 'Lunch') fail(JSON.stringify(a));
      await p.getByRole('button', { name: 'Clear status message' }).click();
      await p.waitForFunction(() => window.__calls.filter((c) => c.cmd === 'set_presence').at(-1).args.status === null);
      if ((await field.inputValue()) !== '') fail('status not cleared');
      await p.getByRole('combobox', { name: 'Your status' }).selectOption('away');
      await field.fill('  Rehearsing the balcony scene ');
      await field.press('Enter');
    },
    check: async (p) => {
      const a = await lastCall(p, 'set_presence');
      if (a.args.show !== 'away' || a.args.status !== 'Rehearsing the balcony scene') fail(JSON.stringify(a));
      const saved = await p.evaluate(() => JSON.parse(localStorage.getItem('tern.presence')));
      if (saved.show !== 'away' || saved.status !== 'Rehearsing the balcony scene') fail(JSON.stringify(saved));
      await p.getByText('Press Enter to set it').waitFor({ state: 'detached' });
      // Escape gives back what is set.
      await p.getByRole('textbox', { name: 'Status message' }).fill('half typed');
      await p.keyboard.press('Escape');
      if ((await p.getByRole('textbox', { name: 'Status message' }).inputValue()) !== 'Rehearsing the balcony scene') fail('Escape kept the draft');
    },
  },
  {
    name: 'profile-status-restore',
    scenario: 'chats',
    query: `&presence=${encodeURIComponent(JSON.stringify({ show: 'dnd', status: 'Back after the masque' }))}`,
    check: async (p) => {
      const a = await calledWith(p, 'set_presence');
      if (a.account !== 'alice@example.org' || a.show !== 'dnd' || a.status !== 'Back after the masque') fail(JSON.stringify(a));
      if ((await p.getByRole('combobox', { name: 'Your status' }).inputValue()) !== 'dnd') fail('picker not restored');
      if ((await p.getByRole('textbox', { name: 'Status message' }).inputValue()) !== 'Back after the masque') fail('status not restored');
    },
  },
  {
    name: 'profile-picture',
    scenario: 'chats',
    act: async (p) => {
      await openProfile(p);
      await p.getByLabel('Picture file').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: PNG });
      await cropDialog(p).getByRole('button', { name: 'Use this picture' }).click();
      await p.getByRole('button', { name: 'Remove picture' }).waitFor();
    },
    check: async (p) => {
      const a = await lastCall(p, 'set_avatar');
      if (!a.raw || a.size !== PNG.length || a.headers?.['Tern-Account'] !== 'alice%40example.org') fail(JSON.stringify(a));
      // Untouched, the frame holds the centred square.
      if (a.headers?.['Tern-Crop'] !== '0.250000,0.000000,0.500000,1.000000') fail(`crop ${a.headers?.['Tern-Crop']}`);
      await p.locator('[data-testid=account] img').first().waitFor();
      await p.getByRole('button', { name: 'Remove picture' }).click();
      const r = await calledWith(p, 'remove_avatar');
      if (r.account !== 'alice@example.org') fail(JSON.stringify(r));
      await p.getByRole('button', { name: 'Remove picture' }).waitFor({ state: 'detached' });
      await p.getByLabel('Picture file').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: PNG });
      // Escape leaves the cropper, not the profile, and sends nothing.
      await cropDialog(p).waitFor();
      await p.keyboard.press('Escape');
      await p.getByRole('dialog', { name: 'Your profile' }).waitFor();
      if ((await p.evaluate(() => window.__calls.filter((c) => c.cmd === 'set_avatar').length)) !== 1) fail('a cancelled crop was sent');
      await p.getByLabel('Picture file').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: PNG });
      await cropDialog(p).getByRole('button', { name: 'Use this picture' }).click();
      await p.getByRole('button', { name: 'Remove picture' }).waitFor();
      await p.getByRole('dialog').locator('img').waitFor();
    },
  },
  {
    name: 'profile-picture-crop',
    scenario: 'chats',
    act: async (p) => {
      await openProfile(p);
      await p.getByLabel('Picture file').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: PNG });
      const frame = cropDialog(p).getByTestId('crop-frame');
      await p.waitForFunction(() => document.querySelector('[data-testid=crop-frame] img')?.naturalWidth === 300);
      // Drag the picture 60 px to the right: the frame moves onto the red half.
      const box = await frame.boundingBox();
      await p.mouse.move(box.x + 120, box.y + 120);
      await p.mouse.down();
      await p.mouse.move(box.x + 150, box.y + 120, { steps: 3 });
      await p.mouse.move(box.x + 180, box.y + 120, { steps: 3 });
      await p.mouse.up();
      // Zoom in twice around the yellow dot with the keyboard.
      await frame.focus();
      await p.keyboard.press('+');
      await p.keyboard.press('+');
      await p.waitForTimeout(50);
      await p.screenshot({ path: join(shots, `profile-picture-crop-frame-${await theme(p)}.png`) });
    },
    check: async (p) => {
      const zoom = await cropDialog(p).getByRole('slider', { name: 'Zoom' }).inputValue();
      if (Math.abs(Number(zoom) - 1.5625) > 0.01) fail(`zoom ${zoom}`);
      await cropDialog(p).getByRole('button', { name: 'Use this picture' }).click();
      await p.getByRole('button', { name: 'Remove picture' }).waitFor();
      const a = await lastCall(p, 'set_avatar');
      // At zoom 1 the picture is 480x240 on screen, at x = -120; dragged
      // 60 px right it is at -60 (left 0.125). Zoom 1.5625 about the
      // frame's centre (picture x 180 of 480 -> 281.25 of 750): x = -161.25.
      const [left, top, width, height] = (a.headers?.['Tern-Crop'] ?? '').split(',').map(Number);
      const near = (x, y) => Math.abs(x - y) < 0.002;
      if (!(near(left, 161.25 / 750) && near(top, (375 - 240) / 2 / 375) && near(width, 240 / 750) && near(height, 240 / 375)))
        fail(`crop ${a.headers?.['Tern-Crop']}`);
    },
  },
  {
    name: 'profile-picture-refused',
    scenario: 'chats',
    act: async (p) => {
      await openProfile(p);
      await p.getByLabel('Picture file').setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not a picture at all') });
      // The browser cannot show it either; the engine gets the last word.
      await cropDialog(p).getByText('This picture can’t be shown here').waitFor();
      await cropDialog(p).getByRole('button', { name: 'Use this picture' }).click();
    },
    check: async (p) => {
      await p.getByRole('dialog').getByRole('alert').getByText('This picture can’t be used: the file is not a picture Tern can read.').waitFor();
      await p.getByLabel('Picture file').setInputFiles({ name: 'vector.svg', mimeType: 'image/svg+xml', buffer: Buffer.from('<svg/>') });
      await text(p, 'Tern reads PNG, JPEG, GIF and WebP pictures');
      if ((await p.evaluate(() => window.__calls.filter((c) => c.cmd === 'set_avatar').length)) !== 1) fail('an SVG was sent');
    },
  },
  {
    name: 'profile-picture-huge',
    scenario: 'chats',
    act: async (p) => {
      await openProfile(p);
      // 30,000 × 20,000 pixels of one colour: a few kilobytes that would
      // take 2.4 GB once decoded. Only its header is read.
      const bomb = makePng(30000, 1, () => [200, 40, 40]);
      bomb.writeUInt32BE(20000, 20);
      await p.getByLabel('Picture file').setInputFiles({ name: 'huge.png', mimeType: 'image/png', buffer: bomb });
      await cropDialog(p).getByText('This picture is very large (30000 × 20000 pixels)').waitFor();
    },
    check: async (p) => {
      if (await cropDialog(p).locator('img').count()) fail('the page was given the picture to decode');
      await cropDialog(p).getByRole('button', { name: 'Use this picture' }).click();
      const a = await lastCall(p, 'set_avatar');
      if (!a.raw || a.headers?.['Tern-Crop'] !== undefined) fail(`sent ${JSON.stringify(a)}`);
    },
  },
  {
    name: 'profile-nickname',
    scenario: 'chats',
    act: async (p) => {
      await openProfile(p);
      await p.getByLabel('Nickname').fill('  Ally  ');
      await p.getByRole('button', { name: 'Save nickname' }).click();
    },
    check: async (p) => {
      const a = await calledWith(p, 'set_nickname');
      if (a.account !== 'alice@example.org' || a.nickname !== 'Ally') fail(JSON.stringify(a));
      await p.getByRole('dialog').waitFor({ state: 'detached' });
      await p.getByTestId('own-nickname').getByText('Ally').waitFor();
      // A change from another device arrives as the engine's event.
      await p.evaluate(() =>
        window.__send({
          type: 'profile',
          account: 'alice@example.org',
          jid: 'alice@example.org',
          profile: { avatar: '5f2b9e0c41d7a3b86e1f0c9d2a7b4e8f13c6d5a0', nickname: 'Alice of Verona' },
        }),
      );
      await p.getByTestId('own-nickname').getByText('Alice of Verona').waitFor();
      await p.locator('[data-testid=account] img').first().waitFor();
    },
  },
  {
    name: 'profile-details',
    scenario: 'chats',
    act: (p) => openDetails(p, 'Juliet Capulet'),
    check: async (p) => {
      const d = p.getByRole('dialog', { name: 'Contact details' });
      for (const s of ['Conversations', 'Gajim', 'At my desk after supper', 'House Capulet', 'Balcony enthusiast.', '+39 045 555 0101', 'juliet@capulet.example'])
        await d.getByText(s).first().waitFor();
      if ((await d.getByTestId('resource').count()) !== 2) fail('resources');
      await d.getByRole('button', { name: 'https://capulet.example/juliet' }).click();
      const o = await calledWith(p, 'open_link');
      if (o.url !== 'https://capulet.example/juliet') fail(JSON.stringify(o));
    },
  },
  {
    name: 'profile-details-header',
    scenario: 'chats',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await p.getByRole('button', { name: 'Contact details' }).click();
    },
    check: async (p) => {
      const d = p.getByRole('dialog', { name: 'Contact details' });
      await d.getByText('Heiress').waitFor();
      await d.getByRole('button', { name: 'Close' }).click();
      await d.waitFor({ state: 'detached' });
    },
  },
  {
    name: 'profile-details-loading',
    scenario: 'chats',
    act: (p) => openDetails(p, 'The Nurse'),
    check: (p) => p.getByRole('dialog').getByText('Loading their vCard…').waitFor(),
  },
  {
    name: 'profile-details-error',
    scenario: 'chats',
    act: (p) => openDetails(p, 'Romeo'),
    check: async (p) => {
      await p.getByRole('dialog').getByText('Tern could not load their vCard. The server did not answer in time.').waitFor();
      await p.getByRole('dialog').getByText('Offline.').or(p.getByRole('dialog').getByText('Away')).first().waitFor();
    },
  },
  {
    name: 'profile-details-hostile',
    scenario: 'hostile',
    act: async (p) => {
      await p.getByRole('button', { name: /^Contacts/ }).click();
      await p.getByRole('button', { name: /^Details of <script>/ }).click();
      await p.getByRole('dialog', { name: 'Contact details' }).waitFor();
    },
    check: async (p) => {
      const d = p.getByRole('dialog', { name: 'Contact details' });
      await d.getByText('<iframe src="javascript:window.__pwned=8"></iframe>').waitFor();
      for (const s of [...HOSTILE_TEXTS, '<style>*{display:none}</style>']) await d.getByText(s, { exact: true }).first().waitFor();
      await d.getByText('javascript:window.__pwned=3', { exact: true }).waitFor();
      if ((await d.getByRole('button', { name: /javascript/ }).count()) !== 0) fail('a javascript: URL can be opened');
      if ((await d.getByRole('link').count()) !== 0) fail('a hostile string became a link');
      if ((await p.locator('#app iframe, #app style, #app math').count()) !== 0) fail('hostile markup in the page');
      await inert(p);
    },
  },
];

// Photos and files (files.ts): sending, the timeline, the viewer, the Files view, settings.
const MERCUTIO = 'Mercutio';
const fileMsg = (p, id) => p.locator(`[data-testid=message][data-id="${id}"]`);
const callsOf = (p, cmd) => p.evaluate((c) => window.__calls.filter((x) => x.cmd === c).map((x) => x.args), cmd);
const MB = 1024 * 1024;
/** The pictures the shell would serve (files.ts PICTURES), by message id. */
const FILE_PICTURES = { 3001: [1200, 800], 3002: [600, 900], 3008: [240, 240] };
const pictureCache = new Map();
function filePicture(id, part) {
  const key = `${id}/${part}`;
  if (!pictureCache.has(key)) {
    const [w, h] = FILE_PICTURES[id];
    const s = part === 'full' ? 1 : Math.min(1, 480 / Math.max(w, h));
    const W = Math.round(w * s);
    const H = Math.round(h * s);
    const hue = { 3001: [40, 90, 160], 3002: [30, 120, 60], 3008: [170, 60, 140] }[id];
    pictureCache.set(
      key,
      makePng(W, H, (x, y) => (y > H * 0.65 ? [hue[0] * 0.5, hue[1] * 0.6, hue[2] * 0.4] : (x - W * 0.7) ** 2 + (y - H * 0.3) ** 2 < (Math.min(W, H) * 0.12) ** 2 ? [250, 210, 90] : [hue[0] + (y * 80) / H, hue[1] + (y * 60) / H, hue[2]]).map(Math.round)),
    );
  }
  return pictureCache.get(key);
}
const openMercutio = (p) => openChat(p, MERCUTIO);
// Encryption keys (scenario chats-keys, tests/screens/encryption.ts):
// Juliet's verified phone, new laptop and old tablet; the account's own
// device and code.
const LAPTOP = '402771563';
const keysOf = async (p) => {
  await openChat(p, 'Juliet Capulet');
  await p.getByRole('button', { name: 'Contact details' }).click();
  await p.getByRole('button', { name: 'Encryption keys…' }).click();
  await p.getByRole('dialog', { name: 'Encryption keys' }).waitFor();
};
const blocksOk = async (loc) => {
  const t = (await loc.innerText()).trim();
  if (!/^([0-9a-f]{8}[ \n]){7}[0-9a-f]{8}$/.test(t)) fail(`fingerprint shown as ${JSON.stringify(t)}`);
};
const encryptionCases = [
  {
    name: 'encryption-banner',
    scenario: 'chats-keys',
    act: (p) => openChat(p, 'Juliet Capulet'),
    check: async (p) => {
      const b = p.getByTestId('new-device');
      await b.waitFor();
      const t = await b.innerText();
      if (!t.includes('Juliet Capulet has a new device. Verify or trust it to keep sending encrypted messages.')) fail(`banner: ${t}`);
      await p.screenshot({ path: join(shots, `encryption-banner-juliet-${await theme(p)}.png`) });
      // Another conversation, with nothing to decide: no banner.
      await openChat(p, 'Romeo');
      if (await p.getByTestId('new-device').count()) fail('banner in a conversation without new devices');
    },
  },
  {
    name: 'encryption-keys',
    scenario: 'chats-keys',
    act: keysOf,
    check: async (p) => {
      const dlg = p.getByRole('dialog', { name: 'Encryption keys' });
      // Opened by keyboard, the dialog starts on Close (not on a Distrust).
      const focused = await p.evaluate(() => document.activeElement?.textContent?.trim());
      if (focused !== 'Close') fail(`focus on ${focused}`);
      const rows = dlg.getByTestId('device');
      if ((await rows.count()) !== 3) fail(`${await rows.count()} devices`);
      for (let i = 0; i < 3; i++) await blocksOk(rows.nth(i).getByTestId('fingerprint'));
      const laptop = dlg.locator(`[data-device="${LAPTOP}"]`);
      await laptop.getByText('Not decided').waitFor();
      await laptop.getByText('New: encrypted messages are not sent to it until you verify or trust it.').waitFor();
      await dlg.getByText('Verified', { exact: true }).waitFor();
      await dlg.getByText('Not in use').waitFor();
      await laptop.getByRole('button', { name: `Verify device ${LAPTOP}…` }).waitFor();
      await laptop.getByRole('button', { name: `Trust device ${LAPTOP}`, exact: true }).waitFor();
      await laptop.getByRole('button', { name: `Distrust device ${LAPTOP}` }).waitFor();
    },
  },
  {
    name: 'encryption-verify',
    scenario: 'chats-keys',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await p.getByTestId('new-device').getByRole('button', { name: 'Verify…' }).click();
      await p.getByRole('button', { name: `Verify device ${LAPTOP}…` }).click();
      await p.getByRole('dialog', { name: `Verify device ${LAPTOP}?` }).waitFor();
      await p.screenshot({ path: join(shots, `encryption-verify-ask-${await theme(p)}.png`) });
    },
    check: async (p) => {
      const ask = p.getByRole('dialog', { name: `Verify device ${LAPTOP}?` });
      await blocksOk(ask.getByTestId('fingerprint'));
      // A pasted fingerprint that differs: a warning, nothing verified.
      await ask.getByLabel('Or paste the fingerprint they sent you').fill('00000000 11111111 22222222 33333333 44444444 55555555 66666666 77777777');
      await ask.getByRole('button', { name: 'Compare and verify' }).click();
      await ask.getByTestId('fingerprint-mismatch').waitFor();
      await p.screenshot({ path: join(shots, `encryption-verify-mismatch-${await theme(p)}.png`) });
      // Compared by eye: verified, and the banner leaves.
      await ask.getByLabel('Or paste the fingerprint they sent you').fill('');
      await ask.getByRole('button', { name: 'They match: verify' }).click();
      await ask.waitFor({ state: 'detached' });
      const args = await calledWith(p, 'verify_fingerprint');
      if (args.deviceId !== Number(LAPTOP)) fail(`verified ${JSON.stringify(args)}`);
      await p.locator(`[data-device="${LAPTOP}"][data-trust="verified"]`).waitFor();
      await p.getByRole('button', { name: 'Close', exact: true }).click();
      await p.getByTestId('new-device').waitFor({ state: 'detached' });
    },
  },
  {
    name: 'encryption-code',
    scenario: 'chats-keys',
    act: keysOf,
    check: async (p) => {
      const dlg = p.getByRole('dialog', { name: 'Encryption keys' });
      const field = dlg.getByLabel('Verify by code');
      // Not a code at all.
      await field.fill('hello juliet');
      await dlg.getByRole('button', { name: 'Verify', exact: true }).click();
      await dlg.getByText('This is not a verification code.').waitFor();
      // A code whose key is not the laptop's: a loud warning.
      await field.fill(`xmpp:juliet@capulet.example?omemo-sid-${LAPTOP}=${'ab'.repeat(32)}`);
      await dlg.getByRole('button', { name: 'Verify', exact: true }).click();
      const warn = dlg.getByTestId('code-mismatch');
      await warn.waitFor();
      if (!(await warn.innerText()).includes('Someone may be impersonating')) fail('no impersonation warning');
      await dlg.locator(`[data-device="${LAPTOP}"][data-trust="undecided"]`).waitFor();
    },
  },
  {
    name: 'encryption-trust-keyboard',
    scenario: 'chats-keys',
    act: (p) => openChat(p, 'Juliet Capulet'),
    check: async (p) => {
      const trust = p.getByTestId('new-device').getByRole('button', { name: 'Trust it' });
      await trust.focus();
      await p.keyboard.press('Enter');
      await p.getByTestId('new-device').waitFor({ state: 'detached' });
      const args = await calledWith(p, 'set_device_trust');
      if (args.trust !== 'trusted' || args.deviceId !== Number(LAPTOP)) fail(`trust ${JSON.stringify(args)}`);
    },
  },
  {
    name: 'encryption-own',
    scenario: 'chats-keys',
    act: async (p) => {
      await openAccounts(p);
      await p.getByRole('button', { name: 'Encryption…' }).first().click();
      await p.getByRole('dialog', { name: 'Encryption' }).waitFor();
    },
    check: async (p) => {
      const dlg = p.getByRole('dialog', { name: 'Encryption' });
      await dlg.getByRole('img', { name: 'QR code of this device’s verification code' }).waitFor();
      await blocksOk(dlg.getByTestId('fingerprint').first());
      const code = await dlg.getByLabel('Verification code', { exact: true }).inputValue();
      if (!/^xmpp:alice@example\.org\?omemo-sid-1196053817=[0-9a-f]{64}$/.test(code)) fail(`code ${code}`);
      const { text: qrText } = await calledWith(p, 'qr_code');
      if (qrText !== code) fail('the QR code is not of the code');
      const rows = dlg.getByTestId('own-device');
      if ((await rows.count()) !== 2) fail(`${await rows.count()} own devices`);
      await dlg.getByText('Removed').waitFor();
      await dlg.getByRole('button', { name: 'Remove device 905112337…' }).click();
      const ask = p.getByRole('dialog', { name: 'Remove device 905112337?' });
      await ask.waitFor();
      await p.screenshot({ path: join(shots, `encryption-own-remove-${await theme(p)}.png`) });
      await ask.getByRole('button', { name: 'Remove', exact: true }).click();
      await ask.waitFor({ state: 'detached' });
      if ((await calledWith(p, 'remove_own_device')).deviceId !== 905112337) fail('removed another device');
      await p.waitForFunction(() => document.querySelectorAll('[data-testid=own-device] button').length === 0);
    },
  },
  {
    name: 'encryption-own-refused',
    scenario: 'chats-keys-refused',
    act: async (p) => {
      await openAccounts(p);
      await p.getByRole('button', { name: 'Encryption…' }).first().click();
      await p.getByRole('dialog', { name: 'Encryption' }).waitFor();
    },
    check: async (p) => {
      // The server refused this device's keys: the dialog says what that means.
      const note = await p.getByTestId('own-keys-problem').innerText();
      if (!note.includes('refused to publish') || !note.includes('messages wait')) fail(`note ${JSON.stringify(note)}`);
      await p.screenshot({ path: join(shots, `encryption-own-refused-${await theme(p)}.png`) });
    },
  },
];

const fileCases = [
  {
    name: 'files-no-upload',
    scenario: 'files-noupload',
    act: async (p) => {
      await openMercutio(p);
      await p.getByRole('button', { name: 'Send files' }).click();
    },
    check: async (p) => {
      const note = p.getByTestId('no-upload');
      await note.waitFor();
      const t = (await note.innerText()).replace(/\s*Dismiss$/, '');
      if (t !== "Your server example.org does not offer file sharing, so you can't send files from this account. You can still receive them.") fail(`note: ${t}`);
      if ((await callsOf(p, 'pick_files')).length) fail('the picker opened');
      if (await p.getByTestId('send-files').count()) fail('a send preview opened');
      // Received files still show.
      await fileMsg(p, 3001).getByTestId('file-photo').waitFor();
    },
  },
  {
    name: 'files-send-preview',
    scenario: 'files',
    act: async (p) => {
      await openMercutio(p);
      await p.getByRole('button', { name: 'Send files' }).click();
      const d = p.getByRole('dialog', { name: 'Send 3 files to Mercutio' });
      await d.waitFor();
      await d.getByLabel('Caption (optional)').fill('From the rehearsal');
      await d.getByLabel('Original quality').check();
    },
    check: async (p) => {
      const d = p.getByRole('dialog', { name: 'Send 3 files to Mercutio' });
      if ((await d.getByTestId('outgoing-file').count()) !== 3) fail('not three files');
      await d.getByText('This file is 12.3 MB; your server takes files up to 10 MB.').waitFor();
      for (const s of ['balcony-view.jpg', '2.1 MB · JPG image', 'notes.pdf', '300 KB · PDF document', 'rehearsal.mov']) await d.getByText(s).first().waitFor();
      const up = await callsOf(p, 'upload_service');
      if (up[0]?.account !== 'alice@example.org') fail('the server was not asked first');
      await p.screenshot({ path: join(shots, `files-send-preview-dialog-${await theme(p)}.png`) });
      await d.getByRole('button', { name: 'Send 2 of 3' }).click();
      const s = await calledWith(p, 'send_files');
      if (JSON.stringify(s.paths) !== JSON.stringify(['/home/alice/Pictures/balcony-view.jpg', '/home/alice/Documents/notes.pdf']) || s.caption !== 'From the rehearsal' || s.quality !== 'original' || s.peer !== 'mercutio@verona.example')
        fail(`sent ${JSON.stringify(s)}`);
      await d.waitFor({ state: 'detached' });
      await p.getByRole('progressbar', { name: 'Sending notes.pdf' }).waitFor();
      await text(p, 'From the rehearsal');
    },
  },
  {
    name: 'files-photo',
    scenario: 'files',
    act: async (p) => {
      await openMercutio(p);
      await fileMsg(p, 3001).scrollIntoViewIfNeeded();
      await p.waitForFunction(() => [...document.querySelectorAll('[data-testid=file-photo] img')].filter((i) => i.complete && i.naturalWidth > 0).length >= 2);
      await p.screenshot({ path: join(shots, `files-photo-timeline-${await theme(p)}.png`) });
    },
    check: async (p) => {
      // Drawn at its shape before it loads: the size comes from the message.
      const img = fileMsg(p, 3001).locator('[data-testid=file-photo] img');
      const attrs = await img.evaluate((i) => [i.getAttribute('width'), i.getAttribute('height')]);
      if (attrs.join('x') !== '360x240') fail(`photo drawn ${attrs.join('x')}`);
      const box = await fileMsg(p, 3001).locator('button.photo').boundingBox();
      if (Math.abs(box.width / box.height - 1.5) > 0.03) fail(`photo box ${box.width}x${box.height}`);
      const tall = await fileMsg(p, 3002).locator('button.photo').boundingBox();
      if (Math.abs(tall.width / tall.height - 600 / 900) > 0.03) fail(`portrait box ${tall.width}x${tall.height}`);
      // The name is not said again as text; a caption is.
      if ((await fileMsg(p, 3001).locator('.body').innerText()).includes('masque-hall.jpg')) fail('the name shows as the body');
      await fileMsg(p, 3002).getByText('The garden at dusk').waitFor();
      // The animated one plays: the file itself, not its still preview.
      const gif = await fileMsg(p, 3008).locator('img').getAttribute('src');
      if (!gif.endsWith('/file/3008/full')) fail(`animated picture from ${gif}`);
      const src = await img.getAttribute('src');
      if (src !== 'http://tern-media.localhost/file/3001/preview') fail(`preview from ${src}`);
    },
  },
  {
    name: 'files-card',
    scenario: 'files',
    act: async (p) => {
      await openMercutio(p);
      await fileMsg(p, 3004).getByTestId('file-card').waitFor();
    },
    check: async (p) => {
      const card = fileMsg(p, 3004).getByTestId('file-card');
      await card.getByText('verona-map.zip').waitFor();
      await card.getByText('14.2 MB · ZIP archive').waitFor();
      for (const [button, cmd] of [['Open', 'open_file'], ['Show in folder', 'show_file_in_folder'], ['Save as…', 'save_file_as']]) {
        await card.getByRole('button', { name: button }).click();
        const a = await calledWith(p, cmd);
        if (a.messageId !== 3004 || a.account !== 'alice@example.org') fail(`${cmd} ${JSON.stringify(a)}`);
      }
      // Not downloaded: Download with its size, and the lock of an encrypted file.
      const remote = fileMsg(p, 3003).getByTestId('file-card');
      await remote.getByRole('img', { name: 'Sent encrypted' }).waitFor();
      if (await remote.getByRole('button', { name: 'Open' }).count()) fail('Open offered before the download');
      await remote.getByRole('button', { name: 'Download (2.4 MB)' }).click();
      const dl = await calledWith(p, 'download_file');
      if (dl.messageId !== 3003) fail(JSON.stringify(dl));
      await remote.getByRole('progressbar').waitFor();
      await remote.getByRole('button', { name: 'Open' }).waitFor();
    },
  },
  {
    name: 'files-uploading',
    scenario: 'files',
    act: async (p) => {
      await openMercutio(p);
      await p.evaluate(() => window.__send({ type: 'transfer', account: 'alice@example.org', message_id: 3005, done: 2.5 * 1024 * 1024, total: 5 * 1024 * 1024 }));
      await fileMsg(p, 3005).getByText('Sending · 2.5 MB of 5 MB').waitFor();
    },
    check: async (p) => {
      const bar = fileMsg(p, 3005).getByRole('progressbar', { name: 'Sending masque-invitation.pdf' });
      if ((await bar.getAttribute('aria-valuenow')) !== '50') fail(`progress ${await bar.getAttribute('aria-valuenow')}`);
      await p.evaluate(() => window.__send({ type: 'transfer', account: 'alice@example.org', message_id: 3005, done: 4 * 1024 * 1024, total: 5 * 1024 * 1024 }));
      await p.waitForFunction(() => document.querySelector('[data-id="3005"] [role=progressbar]')?.getAttribute('aria-valuenow') === '80');
      await fileMsg(p, 3005).getByRole('button', { name: 'Cancel' }).click();
      const c = await calledWith(p, 'cancel_transfer');
      if (c.messageId !== 3005) fail(JSON.stringify(c));
      await fileMsg(p, 3005).getByText('You stopped sending this file.').waitFor();
      await fileMsg(p, 3005).getByRole('button', { name: 'Retry' }).waitFor();
      if (await fileMsg(p, 3005).getByRole('progressbar').count()) fail('the progress bar stays after cancelling');
    },
  },
  {
    name: 'files-failed-retry',
    scenario: 'files',
    act: async (p) => {
      await openMercutio(p);
      await fileMsg(p, 3006).getByTestId('file-failure').waitFor();
    },
    check: async (p) => {
      const up = fileMsg(p, 3006);
      await up.getByText('Your server refused the file: it takes files up to 50 MB.').waitFor();
      // One way to retry, not the text message's "Send again" too.
      if (await up.getByRole('button', { name: 'Send again' }).count()) fail('"Send again" beside Retry');
      await up.getByRole('button', { name: 'Retry' }).click();
      const r = await calledWith(p, 'resend_message');
      if (r.id !== 3006) fail(JSON.stringify(r));
      await up.getByRole('progressbar').waitFor();
      await up.getByTestId('file-failure').waitFor({ state: 'detached' });
      const down = fileMsg(p, 3007);
      await down.getByText('The download stopped: the connection was lost.').waitFor();
      await down.getByRole('button', { name: 'Retry' }).click();
      const d = await calledWith(p, 'download_file');
      if (d.messageId !== 3007) fail(JSON.stringify(d));
      await down.getByRole('button', { name: 'Open' }).waitFor();
    },
  },
  {
    name: 'files-viewer',
    scenario: 'files',
    act: async (p) => {
      await openMercutio(p);
      await fileMsg(p, 3001).getByRole('button', { name: 'Photo masque-hall.jpg, open' }).click();
      const v = p.getByTestId('photo-viewer');
      await v.waitFor();
      await p.waitForFunction(() => document.querySelector('[data-testid=photo-viewer] .stage img')?.naturalWidth === 1200);
    },
    check: async (p) => {
      const v = p.getByTestId('photo-viewer');
      const src = await v.locator('.stage img').getAttribute('src');
      if (!src.endsWith('/file/3001/full')) fail(`viewer shows ${src}`);
      await v.getByText('1 of 3').waitFor();
      // Fitted: never above 100 %, within the window.
      const fit = Number((await v.getByTestId('zoom').innerText()).replace(/\D/g, ''));
      if (!(fit > 0 && fit <= 100)) fail(`fitted at ${fit} %`);
      await v.getByRole('button', { name: '100 %' }).click();
      if ((await v.getByTestId('zoom').innerText()) !== '100 %') fail('100 % button');
      await v.getByRole('button', { name: 'Zoom in' }).click();
      if ((await v.getByTestId('zoom').innerText()) !== '125 %') fail(`zoom in: ${await v.getByTestId('zoom').innerText()}`);
      await v.getByRole('button', { name: 'Fit' }).click();
      await p.keyboard.press('ArrowRight');
      await v.getByText('2 of 3').waitFor();
      await v.getByText('dance.gif').waitFor();
      await p.keyboard.press('ArrowRight');
      await v.getByText('The garden', { exact: false }).count();
      await v.getByText('3 of 3').waitFor();
      await v.getByRole('button', { name: 'Save as…' }).click();
      const s = await calledWith(p, 'save_file_as');
      if (s.messageId !== 3002) fail(JSON.stringify(s));
      await p.keyboard.press('ArrowLeft');
      await v.getByText('2 of 3').waitFor();
      await p.screenshot({ path: join(shots, `files-viewer-open-${await theme(p)}.png`) });
      await p.keyboard.press('Escape');
      await v.waitFor({ state: 'detached' });
    },
  },
  {
    name: 'files-view',
    scenario: 'files',
    act: async (p) => {
      await p.getByRole('button', { name: 'Files' }).click();
      await p.getByTestId('file-row').first().waitFor();
      await p.waitForTimeout(200);
      await p.screenshot({ path: join(shots, `files-view-list-${await theme(p)}.png`) });
    },
    check: async (p) => {
      const f = await calledWith(p, 'files');
      if (f.account !== 'alice@example.org' || f.before !== null || f.limit !== 50) fail(JSON.stringify(f));
      const rows = await p.getByTestId('file-row').allInnerTexts();
      if (rows.length !== 8 || !rows[0].includes('masque-invitation.pdf') || !rows[0].includes('To Mercutio')) fail(`rows ${JSON.stringify(rows.map((r) => r.split('\n')[0]))}`);
      const zip = p.getByTestId('file-row').filter({ hasText: 'verona-map.zip' });
      await zip.getByRole('button', { name: 'Show in folder' }).click();
      if ((await calledWith(p, 'show_file_in_folder')).messageId !== 3004) fail('show in folder');
      // A download started elsewhere shows here too.
      await p.getByTestId('file-row').filter({ hasText: 'queen-mab-speech.pdf' }).getByRole('button', { name: /^Download/ }).click();
      await p.getByTestId('file-row').filter({ hasText: 'queen-mab-speech.pdf' }).getByRole('button', { name: 'Open' }).waitFor();
      await zip.getByRole('button', { name: 'From Mercutio' }).click();
      await p.getByRole('region', { name: 'Conversation with Mercutio' }).waitFor();
    },
  },
  {
    name: 'files-settings',
    scenario: 'files',
    act: async (p) => {
      await p.getByRole('button', { name: 'Settings' }).click();
      await p.getByTestId('file-settings').getByLabel('Original quality').check();
    },
    check: async (p) => {
      const a = await calledWith(p, 'set_file_prefs');
      if (a.prefs.photo_quality !== 'original' || a.prefs.auto_download_bytes !== 5 * MB) fail(JSON.stringify(a));
      const auto = p.getByLabel('Download pictures from contacts automatically');
      const options = await auto.locator('option').allInnerTexts();
      if (options.join('|') !== 'Off|Up to 1 MB|Up to 5 MB|Up to 10 MB|Up to 25 MB') fail(`choices ${options.join('|')}`);
      await auto.selectOption({ label: 'Up to 10 MB' });
      await p.waitForFunction(() => window.__calls.filter((c) => c.cmd === 'set_file_prefs').at(-1).args.prefs.auto_download_bytes === 10 * 1024 * 1024);
      await p.getByLabel('Keep received files on this computer').selectOption({ label: 'Up to 5 GB' });
      const last = (await callsOf(p, 'set_file_prefs')).at(-1);
      if (last.prefs.cache_bytes !== 5120 * MB || last.prefs.photo_quality !== 'original') fail(JSON.stringify(last));
      await auto.selectOption({ label: 'Off' });
      await p.waitForFunction(() => window.__calls.filter((c) => c.cmd === 'set_file_prefs').at(-1).args.prefs.auto_download_bytes === 0);
      // The send preview starts from the choice.
      await p.getByRole('button', { name: /^Conversations/ }).click();
      await openMercutio(p);
      await p.getByRole('button', { name: 'Send files' }).click();
      if (!(await p.getByRole('dialog').getByLabel('Original quality').isChecked())) fail('the preview does not start from the setting');
      await p.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
      await p.getByRole('button', { name: 'Settings' }).click();
    },
  },
  {
    name: 'files-list-line',
    scenario: 'files',
    check: async (p) => {
      const row = p.getByTestId('conversation').filter({ hasText: 'Mercutio' });
      await row.getByText('You: 📎 masque-invitation.pdf').waitFor();
      await p.evaluate(() => {
        const m = {
          id: 3100, account: 'alice@example.org', peer: 'juliet@capulet.example', outgoing: false, sender: 'juliet@capulet.example', uid: 'u3100',
          body: 'IMG_2041.jpg', timestamp_ms: Date.now(), state: 'received', edited: false, retracted: false, reply_to: null, reactions: {}, me: false,
          failure: null, failure_text: null, mention: false, moderated_by: null, moderation_reason: null,
          file: { name: 'IMG_2041.jpg', media_type: 'image/jpeg', size: 900000, width: 800, height: 600, state: 'remote', error: null, error_text: null, preview: true, image: false, animated: false, local: false, encrypted: false },
          encrypted: false, decrypt_error: null, held: null,
        };
        window.__send({ type: 'message', message: m });
        window.__send({ type: 'conversation', conversation: { account: m.account, peer: m.peer, kind: 'chat', unread: 1, mentions: 0, updated_ms: m.timestamp_ms, last: m } });
      });
      await p.getByTestId('conversation').filter({ hasText: 'Juliet' }).getByText('📷 Photo').waitFor();
    },
  },
  {
    name: 'files-paste',
    scenario: 'files',
    act: async (p) => {
      await openMercutio(p);
      await composer(p).focus();
      await p.evaluate((b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'image.png', { type: 'image/png' }));
        document.activeElement.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
      }, PNG.toString('base64'));
      await p.getByRole('dialog', { name: 'Send a file to Mercutio' }).waitFor();
      await p.waitForFunction(() => document.querySelector('[data-testid=send-files] img')?.naturalWidth === 300);
    },
    check: async (p) => {
      const d = p.getByRole('dialog', { name: 'Send a file to Mercutio' });
      await d.getByText('Pasted image.png').waitFor();
      await d.getByLabel('Caption (optional)').fill('Look: a flag');
      await d.getByRole('button', { name: 'Send', exact: true }).click();
      await d.waitFor({ state: 'detached' });
      const c = await p.evaluate(() => {
        const x = window.__calls.filter((c) => c.cmd === 'send_pasted_file').at(-1);
        return { raw: x.args instanceof Uint8Array, size: x.args.length, headers: x.headers };
      });
      if (!c.raw || c.size !== PNG.length) fail(`sent ${JSON.stringify(c)}`);
      const h = c.headers ?? {};
      if (h['Tern-Account'] !== 'alice%40example.org' || h['Tern-Peer'] !== 'mercutio%40verona.example' || h['Tern-Name'] !== 'Pasted%20image.png' || h['Tern-Caption'] !== 'Look%3A%20a%20flag' || h['Tern-Quality'] !== 'smaller')
        fail(`headers ${JSON.stringify(h)}`);
      if ((await composer(p).inputValue()) !== '') fail('the picture went into the text');
    },
  },
  {
    name: 'files-drop',
    scenario: 'files',
    act: async (p) => {
      await openMercutio(p);
      await p.evaluate(() => window.__emit('tern://file-drag', { stage: 'over' }));
      await p.getByText('Drop files to send them to Mercutio').waitFor();
      await p.screenshot({ path: join(shots, `files-drop-over-${await theme(p)}.png`) });
      await p.evaluate(() =>
        window.__emit('tern://file-drag', { stage: 'dropped', files: [{ path: '/home/alice/Documents/notes.pdf', name: 'notes.pdf', size: 307200, media_type: null }] }),
      );
    },
    check: async (p) => {
      const d = p.getByRole('dialog', { name: 'Send a file to Mercutio' });
      await d.getByText('notes.pdf').waitFor();
      if (await p.getByText('Drop files to send them to Mercutio').count()) fail('the drop hint stays');
      await d.getByRole('button', { name: 'Send', exact: true }).click();
      const s = await calledWith(p, 'send_files');
      if (s.paths.join() !== '/home/alice/Documents/notes.pdf' || s.caption !== null) fail(JSON.stringify(s));
    },
  },
];

/** The call bar (over every screen while a call runs). */
const callBar = (p) => p.getByTestId('call-bar');
const callButton = (p) => p.getByTestId('call-button');
/** Waits until the bar says `text` (its visible state, not what a screen reader hears). */
const barSays = (p, text) => callBar(p).getByTestId('call-status').filter({ hasText: text }).waitFor();
const attr = async (l, name, want) => {
  const got = await l.getAttribute(name);
  if (got !== want) fail(`${name} is ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
};
const callCases = [
  {
    name: 'calls-button',
    scenario: 'calls',
    act: (p) => openChat(p, 'Juliet Capulet'),
    check: async (p) => {
      const b = callButton(p);
      await b.waitFor();
      if ((await p.getByRole('button', { name: 'Call Juliet Capulet', exact: true }).count()) !== 1) fail('no button named Call Juliet Capulet');
      await attr(b, 'aria-disabled', 'false');
      await attr(b, 'title', 'Call Juliet Capulet');
    },
  },
  {
    name: 'calls-button-disabled',
    scenario: 'calls',
    act: (p) => openChat(p, 'The Nurse'),
    check: async (p) => {
      await attr(callButton(p), 'aria-disabled', 'true');
      await attr(callButton(p), 'title', 'The Nurse is offline');
      await openChat(p, 'Romeo');
      const b = p.getByRole('button', { name: 'Call Romeo', exact: true });
      await attr(b, 'aria-disabled', 'true');
      await attr(b, 'title', 'Romeo’s app can’t take calls');
      // Its reason is its description.
      const description = await b.evaluate((el) => el.title);
      if (!description.includes('can’t take calls')) fail('no reason');
      await b.click({ force: true });
      await p.waitForTimeout(200);
      if (await p.evaluate(() => window.__calls.some((x) => x.cmd === 'place_call'))) fail('a disabled button placed a call');
      if (await callBar(p).count()) fail('a bar without a call');
    },
  },
  {
    name: 'calls-unavailable',
    scenario: 'calls-unavailable',
    act: (p) => openChat(p, 'Juliet Capulet'),
    check: async (p) => {
      await p.getByRole('button', { name: 'Contact details' }).waitFor();
      if (await callButton(p).count()) fail('a call button where calls are not available');
    },
  },
  {
    name: 'calls-outgoing',
    scenario: 'calls',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await callButton(p).click();
    },
    check: async (p) => {
      const args = await calledWith(p, 'place_call');
      if (args.account !== 'alice@example.org' || args.peer !== 'juliet@capulet.example') fail(`placed ${JSON.stringify(args)}`);
      const bar = p.getByRole('region', { name: 'Call with Juliet Capulet' });
      await bar.waitFor();
      await barSays(p, 'Ringing…');
      await attr(bar, 'data-state', 'ringing');
      await p.getByTestId('call-announce').filter({ hasText: 'Ringing Juliet Capulet…' }).waitFor();
      await bar.getByRole('button', { name: 'Cancel' }).waitFor();
      // While it runs, the button waits.
      await attr(callButton(p), 'aria-disabled', 'true');
      await attr(callButton(p), 'title', 'You are in a call with Juliet Capulet');
      // And the bar stays over other screens.
      await p.getByRole('button', { name: 'Settings' }).click();
      await p.getByRole('radio', { name: 'Same as the system' }).waitFor();
      await barSays(p, 'Ringing…');
    },
  },
  {
    name: 'calls-outgoing-cancel',
    scenario: 'calls',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await callButton(p).click();
      await barSays(p, 'Ringing…');
      await callBar(p).getByRole('button', { name: 'Cancel' }).click();
    },
    check: async (p) => {
      const args = await calledWith(p, 'hang_up');
      if (args.id !== 'out-1') fail(`hung up ${JSON.stringify(args)}`);
      await barSays(p, 'Call cancelled');
      await p.getByTestId('call-line').getByText('Cancelled call').waitFor();
      await attr(callButton(p), 'aria-disabled', 'false');
      // Gone after a few seconds.
      await callBar(p).waitFor({ state: 'detached', timeout: 8000 });
    },
  },
  {
    name: 'calls-incoming',
    scenario: 'calls-incoming',
    check: async (p) => {
      const prompt = p.getByRole('alertdialog', { name: 'Juliet Capulet' });
      await prompt.waitFor();
      await prompt.getByText('Incoming voice call').waitFor();
      if (await prompt.getByTestId('incoming-call-account').count()) fail('the account named with one account');
      await prompt.getByRole('button', { name: 'Answer' }).waitFor();
      await prompt.getByRole('button', { name: 'Decline' }).waitFor();
      // The prompt has the focus (not Answer: Enter typed for something else must not answer).
      if (!(await prompt.evaluate((el) => el === document.activeElement))) fail('the prompt has not the focus');
      if (await callBar(p).count()) fail('the bar shows a ringing incoming call');
      await p.screenshot({ path: join(shots, `calls-incoming-prompt-${await theme(p)}.png`) });
      await p.waitForTimeout(800);
      await p.keyboard.press('Enter');
      const args = await calledWith(p, 'accept_call');
      if (args.id !== 'in-1') fail(`answered ${JSON.stringify(args)}`);
      await prompt.waitFor({ state: 'detached' });
      await p.getByTestId('call-duration').waitFor();
      const t = await p.getByTestId('call-duration').innerText();
      if (!/^0:0\d$/.test(t)) fail(`duration ${t}`);
      await attr(p.getByRole('button', { name: 'Mute' }), 'aria-pressed', 'false');
      // Vouched for by a device of hers not verified: encrypted, said plainly.
      const lock = p.getByTestId('call-lock');
      if ((await lock.innerText()).trim() !== 'Encrypted') fail(`lock: ${await lock.innerText()}`);
      if (!(await lock.getAttribute('title'))?.includes('that you have not verified')) fail('lock title');
      await p.screenshot({ path: join(shots, `calls-incoming-answered-bar-${await theme(p)}.png`) });
    },
  },
  {
    name: 'calls-incoming-decline',
    scenario: 'calls-incoming',
    act: async (p) => {
      await p.getByRole('alertdialog', { name: 'Juliet Capulet' }).waitFor();
      await p.waitForTimeout(800);
      await p.keyboard.press('Escape');
    },
    check: async (p) => {
      const args = await calledWith(p, 'hang_up');
      if (args.id !== 'in-1') fail(`declined ${JSON.stringify(args)}`);
      await p.getByRole('alertdialog').waitFor({ state: 'detached' });
      await barSays(p, 'Call declined');
      if (await p.evaluate(() => window.__calls.some((x) => x.cmd === 'accept_call'))) fail('answered');
    },
  },
  {
    name: 'calls-incoming-several',
    scenario: 'calls-several',
    check: async (p) => {
      const prompt = p.getByRole('alertdialog', { name: 'Juliet Capulet' });
      await prompt.getByText('Incoming voice call').waitFor();
      const to = await prompt.getByTestId('incoming-call-account').innerText();
      if (to !== 'to alice@example.org') fail(`account: ${to}`);
      await prompt.getByRole('button', { name: 'Answer' }).click();
      if ((await calledWith(p, 'accept_call')).id !== 'in-1') fail('answered another call');
      await prompt.waitFor({ state: 'detached' });
      await callBar(p).waitFor();
    },
  },
  {
    name: 'calls-active',
    scenario: 'calls-active',
    act: (p) => openChat(p, 'Juliet Capulet'),
    check: async (p) => {
      const bar = p.getByRole('region', { name: 'Call with Juliet Capulet' });
      await attr(bar, 'data-state', 'active');
      const t = await bar.getByRole('timer', { name: 'Call duration' }).innerText();
      if (!/^2:3\d$/.test(t)) fail(`duration ${t}`);
      if ((await bar.getByTestId('call-poor').innerText()) !== 'Poor connection') fail('no poor connection');
      // Her verified OMEMO device vouched for the call's key: a lock that says so.
      const lock = bar.getByTestId('call-lock');
      if ((await lock.innerText()).trim() !== 'Verified') fail(`lock: ${await lock.innerText()}`);
      const lockTitle = await lock.getAttribute('title');
      if (!lockTitle?.includes('Juliet Capulet’s verified device (1f3a9c0e 55d2b7a4')) fail(`lock title: ${lockTitle}`);
      await p.getByRole('status').filter({ hasText: 'In a call with Juliet Capulet. Poor connection' }).waitFor();
      const mute = bar.getByRole('button', { name: 'Mute' });
      await attr(mute, 'aria-pressed', 'true');
      // The calls before, in the conversation.
      const lines = await p.getByTestId('call-line').allInnerTexts();
      if (lines.length !== 2 || !lines[0].includes('Missed call') || !lines[1].includes('Outgoing call · 2:31')) fail(`lines: ${lines.join(' | ')}`);
      await p.screenshot({ path: join(shots, `calls-active-bar-${await theme(p)}.png`) });
      // The duration runs.
      await p.waitForFunction((before) => document.querySelector('[data-testid=call-duration]')?.textContent !== before, t);
      await mute.click();
      const args = await calledWith(p, 'set_call_muted');
      if (args.id !== 'live-1' || args.muted !== false) fail(`muted ${JSON.stringify(args)}`);
      await attr(mute, 'aria-pressed', 'false');
      await bar.getByRole('button', { name: 'Hang up' }).click();
      if ((await calledWith(p, 'hang_up')).id !== 'live-1') fail('hung up another call');
      await callBar(p).getByTestId('call-status').filter({ hasText: /^Call ended · 2:3\d$/ }).waitFor();
      await attr(bar, 'data-state', 'ended');
      const after = await p.getByTestId('call-line').allInnerTexts();
      if (after.length !== 3 || !/Outgoing call · 2:3\d/.test(after[2])) fail(`lines after: ${after.join(' | ')}`);
    },
  },
  {
    name: 'calls-failed',
    scenario: 'calls-failed',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await callButton(p).click();
    },
    check: async (p) => {
      const bar = callBar(p);
      const alert = bar.getByRole('alert');
      await alert.waitFor();
      const t = await alert.innerText();
      if (t !== 'Call failed: Juliet’s app and Tern found no way to send audio to each other (no common codec).') fail(`alert: ${t}`);
      await bar.getByRole('button', { name: 'Call again' }).waitFor();
      await p.getByTestId('call-line').getByText('Call failed').waitFor();
      await p.screenshot({ path: join(shots, `calls-failed-bar-${await theme(p)}.png`) });
      // It stays past the few seconds other ends show.
      await p.waitForTimeout(5600);
      await alert.waitFor();
      await bar.getByRole('button', { name: 'Dismiss' }).click();
      await bar.waitFor({ state: 'detached' });
    },
  },
  {
    name: 'calls-devices',
    scenario: 'calls-devices',
    act: async (p) => {
      await callBar(p).getByTestId('call-duration').waitFor();
      await callBar(p).getByRole('button', { name: 'Microphone and speaker' }).click();
    },
    check: async (p) => {
      const menu = p.getByRole('menu', { name: 'Microphone and speaker' });
      await menu.waitFor();
      const radios = menu.getByRole('menuitemradio');
      const labels = await radios.allInnerTexts();
      // System default (naming the device it is now) and each device, for both.
      if (labels.length !== 7) fail(`items: ${labels.join(' | ')}`);
      if (!labels[0].includes('System default') || !labels[0].includes('Built-in Audio Analog Stereo')) fail(`first: ${labels[0]}`);
      await attr(radios.nth(0), 'aria-checked', 'true');
      await attr(radios.nth(3), 'aria-checked', 'true');
      await p.screenshot({ path: join(shots, `calls-devices-menu-${await theme(p)}.png`) });
      await menu.getByRole('menuitemradio', { name: 'USB Headset Microphone' }).click();
      const chosen = await calledWith(p, 'set_call_devices');
      if (chosen.choice.microphone !== 'pulseaudio:alsa_input.usb-headset-mono' || chosen.choice.speaker !== null) fail(`chose ${JSON.stringify(chosen)}`);
      await menu.waitFor({ state: 'detached' });
      // Open again: the headset is checked; the call went on.
      await callBar(p).getByRole('button', { name: 'Microphone and speaker' }).click();
      await attr(menu.getByRole('menuitemradio', { name: 'USB Headset Microphone' }), 'aria-checked', 'true');
      await attr(menu.getByRole('menuitemradio').nth(0), 'aria-checked', 'false');
      // Earbuds gone by the time they are chosen: said in words to act on, nothing changed.
      await menu.getByRole('menuitemradio', { name: 'Earbuds' }).click();
      const alert = callBar(p).getByRole('alert');
      await alert.waitFor();
      const t = await alert.innerText();
      if (!t.startsWith('That speaker is no longer connected. Plug it in again, or choose another one')) fail(`alert: ${t}`);
      await attr(callBar(p), 'data-state', 'active');
      await p.screenshot({ path: join(shots, `calls-devices-gone-${await theme(p)}.png`) });
      await callBar(p).getByRole('button', { name: 'Microphone and speaker' }).click();
      await attr(menu.getByRole('menuitemradio', { name: 'Earbuds' }), 'aria-checked', 'false');
      // A calling bar has the menu too (the devices are opened once the call connects).
    },
  },
  {
    name: 'calls-ringback',
    scenario: 'calls',
    act: async (p) => {
      // An AudioContext that records the tones played (Chromium here has no sound card).
      await p.evaluate(() => {
        window.__tones = [];
        window.__closed = 0;
        const param = () => ({ setValueAtTime() {}, linearRampToValueAtTime() {}, exponentialRampToValueAtTime() {} });
        window.AudioContext = class {
          currentTime = 0;
          destination = {};
          createGain() {
            return { connect() {}, gain: param() };
          }
          createOscillator() {
            const tone = { hz: 0 };
            window.__tones.push(tone);
            return { connect() {}, type: 'sine', frequency: { ...param(), setValueAtTime: (hz) => (tone.hz = hz) }, start() {}, stop() {} };
          }
          resume() {
            return Promise.resolve();
          }
          close() {
            window.__closed += 1;
            return Promise.resolve();
          }
        };
      });
      await openChat(p, 'Juliet Capulet');
      await callButton(p).click();
    },
    check: async (p) => {
      // Calling: not yet (nothing rings at the other side).
      await attr(callBar(p), 'data-state', 'calling');
      if ((await p.evaluate(() => window.__tones.length)) !== 0) fail('a ringback before the other side rings');
      await barSays(p, 'Ringing…');
      await p.waitForFunction(() => window.__tones.length >= 2);
      const hz = await p.evaluate(() => window.__tones.map((t) => t.hz).sort());
      if (hz.join() !== '440,480') fail(`ringback tones ${hz.join()}`);
      await p.screenshot({ path: join(shots, `calls-ringback-bar-${await theme(p)}.png`) });
      await callBar(p).getByRole('button', { name: 'Cancel' }).click();
      await barSays(p, 'Call cancelled');
      await p.waitForFunction(() => window.__closed === 1);
      const n = await p.evaluate(() => window.__tones.length);
      await p.waitForTimeout(6500);
      if ((await p.evaluate(() => window.__tones.length)) !== n) fail('the ringback went on after the call');
      // An incoming call rings with the ringtone, not the ringback.
    },
  },
  {
    name: 'calls-stranger',
    scenario: 'calls-stranger',
    act: (p) => openChat(p, 'mallory'),
    check: async (p) => {
      const lines = p.getByTestId('call-line');
      await lines.first().waitFor();
      const texts = await lines.allInnerTexts();
      if (texts.length !== 2 || !texts.every((t) => t.includes('Call from mallory@elsewhere.example — add them to your contacts to take their calls')))
        fail(`lines: ${texts.join(' | ')}`);
      await attr(lines.first(), 'data-stranger', 'true');
      // Nothing rang: no prompt, no bar.
      if (await p.getByTestId('incoming-call').count()) fail('a stranger’s call rang');
      if (await callBar(p).count()) fail('a bar for a stranger’s call');
      await p.screenshot({ path: join(shots, `calls-stranger-line-${await theme(p)}.png`) });
      await lines.last().getByRole('button', { name: 'Add to contacts' }).click();
      const added = await calledWith(p, 'add_contact');
      if (JSON.stringify(added).indexOf('mallory@elsewhere.example') < 0) fail(`added ${JSON.stringify(added)}`);
      // A contact now: the lines stay, their action goes.
      await p.getByTestId('stranger-call-add').first().waitFor({ state: 'detached' });
      if ((await lines.count()) !== 2) fail('the lines went');
    },
  },
  {
    name: 'calls-busy',
    scenario: 'calls-busy',
    act: async (p) => {
      await openChat(p, 'Juliet Capulet');
      await callButton(p).click();
    },
    check: async (p) => {
      await p.getByRole('alert').getByText('Another call is running: end it first.').waitFor();
      if (await callBar(p).count()) fail('a bar for a call that was refused');
    },
  },
];

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
  { name: 'home', scenario: 'main', check: (p) => p.getByTestId('conversation').first().waitFor() },
  ...chatCases,
  ...newDeviceCases,
  ...profileCases,
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
      await p.getByRole('button', { name: /^Conversations/ }).focus();
      await p.keyboard.press('ArrowDown');
      await p.keyboard.press('ArrowDown');
    },
    check: async (p) => {
      await p.getByRole('heading', { name: 'Accounts' }).waitFor();
      const focused = await p.evaluate(() => document.activeElement?.textContent);
      if (!focused?.startsWith('Accounts')) throw new Error(`focus on ${focused}`);
    },
  },
  { name: 'fatal', scenario: 'fatal', check: (p) => text(p, 'Tern could not start') },
  ...roomCases,
  ...largeCases,
  ...fileCases,
  ...encryptionCases,
  ...callCases,
];

const only = process.env.ONLY;
const selected = only ? cases.filter((c) => only.split(',').some((o) => c.name.startsWith(o))) : cases;

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
  for (const c of selected) {
    const page = await context.newPage();
    if (c.viewport) await page.setViewportSize(c.viewport);
    // Avatars, as the shell would serve them (see harness.ts).
    await page.route('http://tern-media.localhost/avatar/**', (r) =>
      r.fulfill({ contentType: 'image/svg+xml', body: AVATAR_SVG }),
    );
    // Shared photos: their previews and the images themselves.
    await page.route('http://tern-media.localhost/file/**', (r) => {
      const m = /^\/file\/(\d+)\/(preview|full)$/.exec(new URL(r.request().url()).pathname);
      if (!m || !FILE_PICTURES[m[1]]) return r.fulfill({ status: 404 });
      return r.fulfill({ contentType: 'image/png', headers: { 'x-content-type-options': 'nosniff' }, body: filePicture(m[1], m[2]) });
    });
    // Cases share the context's local storage; each starts without the
    // drafts and desktop settings an earlier one left (kept across reloads
    // within the case).
    await page.addInitScript(() => {
      if (window.name !== 'tern-case') {
        localStorage.removeItem('tern.drafts');
        localStorage.removeItem('tern.desktop');
      }
      window.name = 'tern-case';
    });
    page.setDefaultTimeout(5000);
    const errors = [];
    page.__dialogs = [];
    page.on('dialog', (d) => {
      page.__dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && !m.location().url.endsWith('favicon.ico') && errors.push(m.text()));
    const file = join(shots, `${c.name}-${theme}.png`);
    try {
      // A case may load another page (`path`), prepare the page (`before`),
      // and look before the app mounted (`mounted: false`).
      if (c.before) await c.before(page);
      const url = c.path ? `${root}/${c.path}` : `${base}?scenario=${c.scenario}&theme=${theme}${c.query ?? ''}`;
      await page.goto(url, { waitUntil: c.waitUntil ?? 'load' });
      if (c.mounted !== false) await page.locator('#app > *').first().waitFor();
      if (c.act) await c.act(page);
      await c.check(page);
      if (errors.length) throw new Error(errors.join('\n'));
      await page.waitForTimeout(50);
      await page.screenshot({ path: file });
      console.log(`ok    ${c.name} (${theme})`);
    } catch (e) {
      failed += 1;
      await page.screenshot({ path: file }).catch(() => {});
      console.log(`FAIL  ${c.name} (${theme}): ${process.env.VERBOSE ? e.stack : e.message.split('\n')[0]}`);
    }
    await page.close();
  }
  await context.close();
}
await browser.close();
server.close();
console.log(`${selected.length * 2 - failed} passed, ${failed} failed; screenshots in ${shots}`);
process.exit(failed ? 1 : 0);
