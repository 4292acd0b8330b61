import type { ServerSettings } from './api';

/** Builds server settings from the "Advanced" inputs; `null` host/port mean automatic. */
export function serverSettings(host: string, port: string | number | null, directTls: boolean): ServerSettings {
  const h = host.trim();
  const p = typeof port === 'number' ? port : parseInt(String(port ?? '').trim(), 10);
  return {
    host: h ? h : null,
    port: Number.isInteger(p) && p > 0 && p < 65536 ? p : null,
    direct_tls: directTls,
  };
}
