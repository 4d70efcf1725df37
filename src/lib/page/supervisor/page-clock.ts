/**
 * Time as the supervisor sees it: the clock, timers and animation frames, each timer
 * handed back as the function that cancels it. The page uses the browser's; unit
 * tests give a clock they move by hand.
 */
export interface PageClock {
  now(): number;
  /** Runs `run` once after `ms`. */
  after(ms: number, run: () => void): Cancel;
  /** Runs `run` every `ms`. */
  every(ms: number, run: () => void): Cancel;
  /** Runs `run` in the next animation frame (a hidden tab gets none). */
  nextFrame(run: () => void): Cancel;
}

export type Cancel = () => void;

export const pageClock: PageClock = {
  now: () => Date.now(),
  after(ms, run) {
    const timer = setTimeout(run, ms);
    return () => clearTimeout(timer);
  },
  every(ms, run) {
    const timer = setInterval(run, ms);
    return () => clearInterval(timer);
  },
  nextFrame(run) {
    const frame = requestAnimationFrame(() => run());
    return () => cancelAnimationFrame(frame);
  }
};
