/** Turns WebLLM's init progress reports into figures the page can show. */
import type { LoadProgress } from './types';

export interface InitReport {
  progress: number;
  timeElapsed: number;
  text: string;
}

export function parseInitReport(report: InitReport): LoadProgress {
  const fetched = /(\d+)MB fetched/.exec(report.text);
  const loading = /Loading model from cache|Loading GPU shader|Finish loading/i.test(report.text);
  const fraction = Math.min(Math.max(report.progress, 0), 1);
  if (fetched) {
    const loadedMB = Number(fetched[1]);
    const totalMB = fraction > 0 ? Math.round(loadedMB / fraction) : null;
    const mbPerSecond = report.timeElapsed > 0 ? loadedMB / report.timeElapsed : null;
    const etaSeconds =
      totalMB !== null && mbPerSecond ? Math.max(0, (totalMB - loadedMB) / mbPerSecond) : null;
    return {
      phase: 'download',
      text: report.text,
      fraction,
      loadedMB,
      totalMB,
      mbPerSecond,
      etaSeconds
    };
  }
  return {
    phase: fraction >= 1 && !loading ? 'ready' : 'compile',
    text: report.text,
    fraction,
    loadedMB: null,
    totalMB: null,
    mbPerSecond: null,
    etaSeconds: null
  };
}
