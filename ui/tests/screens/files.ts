// Shared files for the screen harness: a conversation with Mercutio holding
// photos, file cards, an upload under way, a failed upload and a failed
// download; and the file commands, answering like the shell and emitting
// the events the engine would. run.mjs serves the pictures
// (http://tern-media.localhost/file/<id>/preview|full).

import type { FilePrefs, FileView, MessageView, PickedFile } from '../../src/lib/engine';
import { chatData, contact, msg, update, upsertConv, type Send } from './chats';

const ME = 'alice@example.org';
export const MERCUTIO = 'mercutio@verona.example';
const MB = 1024 * 1024;
const now = Date.now();
const minutesAgo = (n: number) => now - n * 60_000;

export const file = (p: Partial<FileView>): FileView => ({
  name: 'file',
  media_type: null,
  size: null,
  width: null,
  height: null,
  state: 'local',
  error: null,
  error_text: null,
  preview: false,
  image: false,
  animated: false,
  local: true,
  encrypted: false,
  ...p,
});

const photo = (name: string, width: number, height: number, p: Partial<FileView> = {}) =>
  file({ name, media_type: 'image/jpeg', size: 1.8 * MB, width, height, preview: true, image: true, ...p });

function mercutioTimeline(): MessageView[] {
  return [
    msg(MERCUTIO, { id: 3000, body: 'I have pictures from last night’s masque.', timestamp_ms: minutesAgo(90) }),
    msg(MERCUTIO, { id: 3001, body: 'masque-hall.jpg', timestamp_ms: minutesAgo(89), file: photo('masque-hall.jpg', 1200, 800) }),
    msg(MERCUTIO, {
      id: 3008,
      body: 'dance.gif',
      timestamp_ms: minutesAgo(88),
      file: photo('dance.gif', 240, 240, { media_type: 'image/gif', animated: true, size: 420 * 1024 }),
    }),
    msg(MERCUTIO, {
      id: 3002,
      outgoing: true,
      body: 'The garden at dusk',
      state: 'read',
      timestamp_ms: minutesAgo(80),
      file: photo('garden.jpg', 600, 900, { state: 'uploaded' }),
    }),
    msg(MERCUTIO, {
      id: 3003,
      body: 'queen-mab-speech.pdf',
      timestamp_ms: minutesAgo(60),
      file: file({ name: 'queen-mab-speech.pdf', media_type: 'application/pdf', size: 2.4 * MB, state: 'remote', local: false, encrypted: true }),
    }),
    msg(MERCUTIO, {
      id: 3004,
      body: 'verona-map.zip',
      timestamp_ms: minutesAgo(50),
      file: file({ name: 'verona-map.zip', media_type: 'application/zip', size: 14.2 * MB }),
    }),
    msg(MERCUTIO, {
      id: 3007,
      body: 'sonnets.txt',
      timestamp_ms: minutesAgo(40),
      file: file({ name: 'sonnets.txt', media_type: 'text/plain', size: 18 * 1024, state: 'failed', local: false, error: 'network', error_text: 'The download stopped: the connection was lost.' }),
    }),
    msg(MERCUTIO, {
      id: 3006,
      outgoing: true,
      body: 'lute-song.mp3',
      state: 'failed',
      timestamp_ms: minutesAgo(20),
      file: file({ name: 'lute-song.mp3', media_type: 'audio/mpeg', size: 64 * MB, state: 'failed', error: 'too_large', error_text: 'Your server refused the file: it takes files up to 50 MB.' }),
    }),
    msg(MERCUTIO, {
      id: 3005,
      outgoing: true,
      body: 'masque-invitation.pdf',
      state: 'queued',
      timestamp_ms: minutesAgo(2),
      file: file({ name: 'masque-invitation.pdf', media_type: 'application/pdf', size: 5 * MB, state: 'uploading' }),
    }),
  ];
}

/** The pictures run.mjs serves, by message id: width and height. */
export const PICTURES: Record<number, [number, number]> = { 3001: [1200, 800], 3002: [600, 900], 3008: [240, 240] };

class FileData {
  scenario = '';
  prefs: FilePrefs = { photo_quality: 'smaller', auto_download_bytes: 5 * MB, cache_bytes: 2048 * MB };
  next = 4000;

  setup(scenario: string) {
    this.scenario = scenario;
    chatData.contacts.push(contact(MERCUTIO, { name: 'Mercutio', presence: [{ resource: 'lute', show: 'available', status: null, priority: 0, client: null, calls: false }] }));
    const list = mercutioTimeline();
    chatData.timelines.set(MERCUTIO, list);
    const last = list[list.length - 1];
    chatData.conversations.unshift({ account: ME, peer: MERCUTIO, kind: 'chat', unread: 0, mentions: 0, updated_ms: last.timestamp_ms, last });
  }

  all(account: string): MessageView[] {
    return [...chatData.timelines.values()]
      .flat()
      .filter((m) => m.account === account && m.file && !m.retracted)
      .sort((a, b) => b.timestamp_ms - a.timestamp_ms || b.id - a.id);
  }
}

export const fileData = new FileData();

/** What the user "picks" in the open dialog. */
export const PICKED: PickedFile[] = [
  { path: '/home/alice/Pictures/balcony-view.jpg', name: 'balcony-view.jpg', size: 2.1 * MB, media_type: 'image/jpeg' },
  { path: '/home/alice/Documents/notes.pdf', name: 'notes.pdf', size: 300 * 1024, media_type: null },
  { path: '/home/alice/Videos/rehearsal.mov', name: 'rehearsal.mov', size: 12.3 * MB, media_type: null },
];

const withFile = (m: MessageView, f: Partial<FileView>, rest: Partial<MessageView> = {}): MessageView => ({ ...m, ...rest, file: { ...m.file!, ...f } });

/** Answers a file command, or `undefined` for the others. */
export function fileCommand(cmd: string, a: Record<string, unknown>, send: Send): unknown {
  const d = fileData;
  const id = a.messageId as number;
  const find = (mid: number) => [...chatData.timelines.values()].flat().find((m) => m.id === mid);
  switch (cmd) {
    case 'upload_service':
      return d.scenario === 'files-noupload'
        ? { account: a.account, domain: 'example.org', available: false, max_bytes: null }
        : { account: a.account, domain: 'example.org', available: true, max_bytes: 10 * MB };
    case 'pick_files':
      return PICKED;
    case 'send_files': {
      const out: MessageView[] = [];
      const peer = a.peer as string;
      const list = chatData.timelines.get(peer) ?? [];
      for (const path of a.paths as string[]) {
        const p = PICKED.find((x) => x.path === path);
        const m = msg(peer, {
          id: d.next++,
          outgoing: true,
          body: p?.name ?? 'file',
          state: 'queued',
          timestamp_ms: Date.now(),
          file: file({ name: p?.name ?? 'file', media_type: p?.media_type ?? null, size: p?.size ?? null, state: 'uploading' }),
        });
        list.push(m);
        out.push(m);
        send({ type: 'message', message: m });
      }
      if (a.caption) {
        const c = msg(peer, { id: d.next++, outgoing: true, body: a.caption as string, state: 'queued', timestamp_ms: Date.now() });
        list.push(c);
        out.push(c);
        send({ type: 'message', message: c });
      }
      chatData.timelines.set(peer, list);
      if (out.length) upsertConv(send, out[out.length - 1]);
      return out;
    }
    case 'send_pasted_file':
      return [];
    case 'cancel_transfer': {
      const m = find(id);
      if (m?.file?.state === 'uploading')
        update(send, id, (x) => withFile(x, { state: 'failed', error: 'cancelled', error_text: 'You stopped sending this file.' }, { state: 'failed' }));
      else if (m?.file?.state === 'downloading') update(send, id, (x) => withFile(x, { state: 'remote' }));
      return null;
    }
    case 'download_file': {
      const m = update(send, id, (x) => withFile(x, { state: 'downloading', error: null, error_text: null }));
      setTimeout(() => {
        send({ type: 'transfer', account: ME, message_id: id, done: (m?.file?.size ?? 0) / 2, total: m?.file?.size ?? null });
        setTimeout(() => update(send, id, (x) => withFile(x, { state: 'local', local: true })), 150);
      }, 100);
      return m;
    }
    case 'resend_message': {
      if (!find(a.id as number)?.file) return undefined;
      const mid = a.id as number;
      const m = update(send, mid, (x) => withFile(x, { state: 'uploading', error: null, error_text: null }, { state: 'queued' }));
      setTimeout(() => update(send, mid, (x) => withFile(x, { state: 'uploaded' }, { state: 'acked' })), 300);
      return m;
    }
    case 'open_file':
    case 'show_file_in_folder':
      return null;
    case 'save_file_as':
      return true;
    case 'files': {
      const all = d.all(a.account as string);
      const from = a.before === null ? 0 : all.findIndex((m) => m.id === a.before) + 1;
      return all.slice(from, from + (a.limit as number));
    }
    case 'file_prefs':
      return d.prefs;
    case 'set_file_prefs':
      d.prefs = a.prefs as FilePrefs;
      return null;
    default:
      return undefined;
  }
}
