/**
 * Figures as people read them: counts, sizes, speeds, durations. One of each,
 * for every page and every message. Independent of the runtime's locale.
 */

export const KIB = 1024;
export const MIB = 1024 * KIB;
export const GIB = 1024 * MIB;

const counts = new Intl.NumberFormat('en');

/** 100000 -> "100,000". (One formatter for all: `toLocaleString` builds one per call.) */
export function formatCount(n: number): string {
  return counts.format(n);
}

/** (1, 'item') -> "1 item"; (2, 'item') -> "2 items"; (3, 'entry', 'entries') -> "3 entries". */
export function plural(n: number, one: string, many = one + 's'): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

/** A measured figure: whole numbers from 100 up ("1,276"), one decimal below ("12.5"); "—" when unknown. */
export function formatFigure(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '—';
  return value >= 100 ? formatCount(Math.round(value)) : value.toFixed(1);
}

/** Bytes in whole MiB (1024 x 1024 bytes; WebLLM calls them MB): "5,107 MiB". */
export function formatMiB(bytes: number): string {
  return `${formatCount(Math.round(bytes / MIB))} MiB`;
}

/** A file's size, rounded up to 0.1 MiB so a file just over a limit never reads as the limit. */
export function formatFileSize(bytes: number): string {
  return (Math.ceil((bytes / MIB) * 10) / 10).toFixed(1) + ' MiB';
}

/** 42_000 -> "42 s"; 65_000 -> "1 min 05 s"; 3_900_000 -> "1 h 05 min"; "—" when unknown. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}
