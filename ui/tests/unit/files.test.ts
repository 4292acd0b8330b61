import { describe, expect, it } from 'vitest';
import type { FileView, MessageView } from '../../src/lib/engine';
import { caption, fileActions, fileKind, fileLine, fileUrl, fitBox, percent, sizeLabel, tooLarge, typeLabel } from '../../src/lib/files';

const file = (p: Partial<FileView> = {}): FileView => ({
  name: 'report.pdf',
  media_type: 'application/pdf',
  size: 1000,
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
const msg = (p: Partial<MessageView> = {}): MessageView => ({
  id: 7, account: 'me@x', peer: 'j@y', outgoing: false, sender: 'j@y', uid: 'u', body: 'report.pdf', timestamp_ms: 1,
  state: 'seen', edited: false, retracted: false, reply_to: null, reactions: {}, me: false, failure: null, failure_text: null,
  mention: false, moderated_by: null, moderation_reason: null, file: file(), encrypted: false, decrypt_error: null, held: null, call: null, ...p,
});

describe('files', () => {
  it('says sizes in binary units', () => {
    expect(sizeLabel(0, 'en')).toBe('0 bytes');
    expect(sizeLabel(1, 'en')).toBe('1 byte');
    expect(sizeLabel(14 * 1024, 'en')).toBe('14 KB');
    expect(sizeLabel(12.3 * 1024 * 1024, 'en')).toBe('12.3 MB');
    expect(sizeLabel(10 * 1024 * 1024, 'en')).toBe('10 MB');
    expect(sizeLabel(1.5 * 1024 ** 3, 'en')).toBe('1.5 GB');
  });

  it('refuses files above the server limit, in words', () => {
    const MB = 1024 * 1024;
    expect(tooLarge(12.3 * MB, 10 * MB, 'en')).toBe('This file is 12.3 MB; your server takes files up to 10 MB.');
    expect(tooLarge(10 * MB, 10 * MB, 'en')).toBeNull();
    expect(tooLarge(12 * MB, null, 'en')).toBeNull();
    expect(tooLarge(null, 10 * MB, 'en')).toBeNull();
  });

  it('tells kinds by type, else by name', () => {
    expect(fileKind('x.bin', 'image/png')).toBe('image');
    expect(fileKind('holiday.JPG', null)).toBe('image');
    expect(fileKind('a.tar.gz', null)).toBe('archive');
    expect(fileKind('noext', null)).toBe('other');
    expect(typeLabel('report.pdf', 'application/pdf')).toBe('PDF document');
    expect(typeLabel('photo.png', 'image/png')).toBe('PNG image');
    expect(typeLabel('data.xyz', null)).toBe('XYZ file');
  });

  it('serves pictures from tern-media, by message id', () => {
    expect(fileUrl(42, 'preview', false)).toBe('tern-media://localhost/file/42/preview');
    expect(fileUrl(42, 'full', true)).toBe('http://tern-media.localhost/file/42/full');
  });

  it('fits photos without enlarging them', () => {
    expect(fitBox(4000, 3000)).toEqual({ width: 360, height: 270 });
    expect(fitBox(1000, 4000)).toEqual({ width: 80, height: 320 });
    expect(fitBox(100, 50)).toEqual({ width: 100, height: 50 });
  });

  it('shows a caption only when it is more than the name', () => {
    expect(caption(msg())).toBeNull();
    expect(caption(msg({ body: 'Here it is' }))).toBe('Here it is');
    expect(caption(msg({ file: null, body: 'text' }))).toBe('text');
  });

  it('gives the conversation list a short line', () => {
    expect(fileLine(msg())).toBe('📎 report.pdf');
    expect(fileLine(msg({ file: file({ name: 'a.jpg', media_type: 'image/jpeg', preview: true, width: 10, height: 10 }) }))).toBe('📷 Photo');
    expect(fileLine(msg({ file: null }))).toBeNull();
  });

  it('offers what can be done now', () => {
    expect(fileActions(msg({ file: file({ state: 'remote', local: false }) }))).toEqual({ download: true, open: false, cancel: false, retry: null });
    expect(fileActions(msg({ outgoing: true, file: file({ state: 'uploading' }) })).cancel).toBe(true);
    expect(fileActions(msg({ outgoing: true, state: 'failed', file: file({ state: 'failed' }) })).retry).toBe('upload');
    expect(fileActions(msg({ file: file({ state: 'failed', local: false }) })).retry).toBe('download');
    expect(fileActions(msg()).open).toBe(true);
    expect(percent(50, 200)).toBe(25);
    expect(percent(5, null)).toBeNull();
  });
});
