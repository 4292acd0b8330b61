// Shared files as the UI shows them: sizes in words, what kind a file is,
// where the shell serves its pictures, the limit check before sending, and
// the line a file message gets in the conversation list.

import type { FileView, MessageView } from './engine';

const MB = 1024 * 1024;
const sizeFormats = new Map<string, Intl.NumberFormat>();

function number(n: number, digits: number, locale?: string): string {
  const key = `${locale ?? ''}/${digits}`;
  let f = sizeFormats.get(key);
  if (!f) {
    f = new Intl.NumberFormat(locale, { maximumFractionDigits: digits });
    sizeFormats.set(key, f);
  }
  return f.format(n);
}

/** "820 bytes", "14 KB", "12.3 MB", "1.5 GB" (binary units, as file managers show them). */
export function sizeLabel(bytes: number, locale?: string): string {
  if (bytes < 1024) return `${number(bytes, 0, locale)} ${bytes === 1 ? 'byte' : 'bytes'}`;
  if (bytes < MB) return `${number(bytes / 1024, 0, locale)} KB`;
  if (bytes < 1024 * MB) return `${number(bytes / MB, bytes < 10 * MB ? 1 : bytes < 100 * MB ? 1 : 0, locale)} MB`;
  return `${number(bytes / (1024 * MB), 1, locale)} GB`;
}

/** Why a file cannot be sent to a server that takes up to `max` bytes; `null` when it can. */
export function tooLarge(size: number | null | undefined, max: number | null | undefined, locale?: string): string | null {
  if (size === null || size === undefined || max === null || max === undefined || size <= max) return null;
  return `This file is ${sizeLabel(size, locale)}; your server takes files up to ${sizeLabel(max, locale)}.`;
}

export type FileKind = 'image' | 'video' | 'audio' | 'pdf' | 'archive' | 'text' | 'document' | 'other';

const byExtension: Record<string, FileKind> = {
  png: 'image', jpg: 'image', jpeg: 'image', gif: 'image', webp: 'image', heic: 'image', avif: 'image', bmp: 'image', tif: 'image', tiff: 'image', svg: 'image',
  mp4: 'video', webm: 'video', mov: 'video', mkv: 'video', avi: 'video',
  mp3: 'audio', ogg: 'audio', opus: 'audio', m4a: 'audio', flac: 'audio', wav: 'audio', aac: 'audio',
  pdf: 'pdf',
  zip: 'archive', gz: 'archive', tgz: 'archive', xz: 'archive', bz2: 'archive', '7z': 'archive', rar: 'archive', tar: 'archive', zst: 'archive',
  txt: 'text', md: 'text', csv: 'text', log: 'text', json: 'text',
  doc: 'document', docx: 'document', odt: 'document', rtf: 'document', xls: 'document', xlsx: 'document', ods: 'document', ppt: 'document', pptx: 'document', odp: 'document',
};

/** A file name's ending, lower case, without the dot ('' when none). */
export function extension(name: string): string {
  const i = name.lastIndexOf('.');
  return i > 0 && i < name.length - 1 ? name.slice(i + 1).toLowerCase() : '';
}

/** What kind of file it is, by its media type, else by its name. */
export function fileKind(name: string, mediaType: string | null | undefined): FileKind {
  const t = (mediaType ?? '').toLowerCase();
  if (t.startsWith('image/')) return 'image';
  if (t.startsWith('video/')) return 'video';
  if (t.startsWith('audio/')) return 'audio';
  if (t === 'application/pdf') return 'pdf';
  if (t.startsWith('text/')) return 'text';
  return byExtension[extension(name)] ?? 'other';
}

const icons: Record<FileKind, string> = {
  image: '🖼',
  video: '🎞',
  audio: '🎵',
  pdf: '📕',
  archive: '🗜',
  text: '📄',
  document: '📝',
  other: '📎',
};

/** An emoji standing for the kind of file. */
export const fileIcon = (kind: FileKind): string => icons[kind];

const kindWords: Record<FileKind, string> = {
  image: 'Image',
  video: 'Video',
  audio: 'Audio',
  pdf: 'PDF document',
  archive: 'Archive',
  text: 'Text',
  document: 'Document',
  other: 'File',
};

/** "PDF document", "PNG image", "ZIP archive", … for a card. */
export function typeLabel(name: string, mediaType: string | null | undefined): string {
  const kind = fileKind(name, mediaType);
  const ext = extension(name).toUpperCase();
  if (kind === 'pdf') return kindWords.pdf;
  if (kind === 'other') return ext ? `${ext} file` : 'File';
  return ext && ext.length <= 5 ? `${ext} ${kindWords[kind].toLowerCase()}` : kindWords[kind];
}

/** A photo the timeline shows as a picture (a preview exists), rather than a card. */
export const isPhoto = (f: FileView | null | undefined): boolean => !!f && f.preview && !!f.width && !!f.height;

/** Where the shell serves a file's preview or the image itself (see src-tauri/src/media.rs). */
export function fileUrl(
  messageId: number,
  part: 'preview' | 'full',
  windows = typeof navigator !== 'undefined' && /Windows/.test(navigator.userAgent),
): string {
  const path = `/file/${Math.trunc(messageId)}/${part}`;
  return windows ? `http://tern-media.localhost${path}` : `tern-media://localhost${path}`;
}

/** The size a photo is drawn at in the timeline: within `maxW` × `maxH`, never larger than it is. */
export function fitBox(width: number, height: number, maxW = 360, maxH = 320): { width: number; height: number } {
  if (width <= 0 || height <= 0) return { width: maxW, height: Math.round(maxW * 0.66) };
  const scale = Math.min(1, maxW / width, maxH / height);
  return { width: Math.max(48, Math.round(width * scale)), height: Math.max(48, Math.round(height * scale)) };
}

/** A message's text beside its file: `null` when it is only the file's name. */
export function caption(m: MessageView): string | null {
  if (!m.file) return m.body;
  const body = m.body.trim();
  return body && body !== m.file.name ? m.body : null;
}

/** The conversation list's line for a file message: "📷 Photo" or "📎 name". */
export function fileLine(m: MessageView): string | null {
  const f = m.file;
  if (!f) return null;
  if (f.image || isPhoto(f) || fileKind(f.name, f.media_type) === 'image') return '📷 Photo';
  return `📎 ${f.name}`;
}

/** Per cent done, 0 to 100, when the total is known. */
export function percent(done: number, total: number | null | undefined): number | null {
  if (!total || total <= 0) return null;
  return Math.max(0, Math.min(100, Math.round((done / total) * 100)));
}

/** Automatic download limits offered in Settings (bytes; 0 is off). */
export const AUTO_DOWNLOAD_CHOICES = [0, 1 * MB, 5 * MB, 10 * MB, 25 * MB];
/** Cache sizes offered in Settings (bytes). */
export const CACHE_CHOICES = [256 * MB, 512 * MB, 1024 * MB, 2048 * MB, 5120 * MB, 10240 * MB];

/** A choice's label: "Off" for 0, else the size. */
export const limitLabel = (bytes: number): string => (bytes === 0 ? 'Off' : sizeLabel(bytes));

/** What the user can do with a file now. */
export interface FileActions {
  download: boolean;
  open: boolean;
  cancel: boolean;
  retry: 'upload' | 'download' | null;
}

export function fileActions(m: MessageView): FileActions {
  const f = m.file;
  if (!f) return { download: false, open: false, cancel: false, retry: null };
  const failed = f.state === 'failed' || (m.outgoing && m.state === 'failed');
  return {
    download: f.state === 'remote',
    open: f.local && !failed && f.state !== 'uploading' && f.state !== 'downloading',
    cancel: f.state === 'uploading' || f.state === 'downloading',
    retry: failed ? (m.outgoing ? 'upload' : 'download') : null,
  };
}
