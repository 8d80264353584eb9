//! Watching a run from a terminal or a log: the engine's [`Observer`] as progress lines.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use medsim_engine::run::{Observer, RunStart};
use medsim_engine::runlog::EpisodeRecord;
use medsim_engine::summary::Tally;
use medsim_llm::config::Meter;

/// Progress of a run: one line redrawn every second on a terminal; otherwise a plain line at
/// least every 10 seconds (and when an episode ends, at most every 5), so a log shows the run is
/// alive even while the first episodes are still in flight. One observer watches the runs of a
/// command one after another (`learn` and `ablate` make several).
pub struct Progress {
    terminal: bool,
    meter: Arc<Meter>,
    state: Mutex<State>,
    stop: AtomicBool,
}

struct State {
    running: bool,
    started: Instant,
    total: u64,
    /// Episodes finished in this process (for the ETA).
    done_now: u64,
    /// Everything on disk: what was there at the start, and what finished since.
    tally: Tally,
    last_line: Option<Instant>,
}

impl Progress {
    /// Plain lines at least this often when standard error is not a terminal.
    const EVERY: Duration = Duration::from_secs(10);

    /// A progress observer reading token counts from `meter`.
    pub fn new(meter: Arc<Meter>) -> Arc<Progress> {
        Arc::new(Progress {
            terminal: std::io::stderr().is_terminal(),
            meter,
            state: Mutex::new(State {
                running: false,
                started: Instant::now(),
                total: 0,
                done_now: 0,
                tally: Tally::default(),
                last_line: None,
            }),
            stop: AtomicBool::new(false),
        })
    }

    /// Prints on its own until [`Progress::finish`].
    pub fn start_ticker(self: &Arc<Progress>) -> std::thread::JoinHandle<()> {
        let progress = self.clone();
        std::thread::spawn(move || {
            let mut since = Instant::now();
            while !progress.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(250));
                if since.elapsed() >= Duration::from_secs(1) {
                    since = Instant::now();
                    progress.maybe_print(false);
                }
            }
        })
    }

    /// Stops the ticker and ends the line.
    pub fn finish(&self, ticker: std::thread::JoinHandle<()>) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = ticker.join();
        if self.terminal && self.state.lock().expect("progress").running {
            eprintln!();
        }
    }

    fn maybe_print(&self, episode_ended: bool) {
        let mut state = self.state.lock().expect("progress");
        if !state.running {
            return;
        }
        let due = match state.last_line {
            None => true,
            Some(last) if episode_ended => last.elapsed() >= Duration::from_secs(5),
            Some(last) => last.elapsed() >= Self::EVERY,
        };
        let all_done = state.tally.episodes as u64 == state.total;
        if self.terminal || due || (episode_ended && all_done) {
            let line = self.line(&state);
            if self.terminal {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            state.last_line = Some(Instant::now());
        }
    }

    fn line(&self, state: &State) -> String {
        let done = state.tally.episodes as u64;
        let count = state.tally.count;
        let accuracy = if count.judged == 0 {
            "n/a".to_owned()
        } else {
            format!("{:.1}% ({}/{})", 100.0 * count.correct as f64 / count.judged as f64, count.correct, count.judged)
        };
        let elapsed = state.started.elapsed().as_secs_f64();
        let (calls, prompt, completion) = self.meter.read();
        let eta = if state.done_now == 0 {
            "ETA after the first episode".to_owned()
        } else {
            format!("ETA {:.0}s", elapsed / state.done_now as f64 * state.total.saturating_sub(done) as f64)
        };
        format!(
            "{done}/{} episodes · accuracy {accuracy} · errors {} · {} tokens in {calls} model calls this session · ${:.4} · {elapsed:.0}s elapsed · {eta}",
            state.total,
            state.tally.errors,
            prompt + completion,
            state.tally.cost_usd
        )
    }
}

impl Observer for Progress {
    fn run_started(&self, start: &RunStart<'_>) {
        eprintln!(
            "run {}: {} case(s) × {} repeat(s) = {} episode(s); {} already done; {} to run at concurrency {}",
            start.directory.display(),
            start.cases,
            start.repeats,
            start.total,
            start.existing.episodes,
            start.to_run,
            start.concurrency
        );
        let mut state = self.state.lock().expect("progress");
        if self.terminal && state.running {
            eprintln!();
        }
        *state = State {
            running: true,
            started: Instant::now(),
            total: start.total as u64,
            done_now: 0,
            tally: start.existing.clone(),
            last_line: None,
        };
    }

    fn note(&self, message: &str) {
        eprintln!("{message}");
    }

    fn episode_finished(&self, record: &EpisodeRecord) {
        {
            let mut state = self.state.lock().expect("progress");
            state.done_now += 1;
            state.tally.add(record);
        }
        self.maybe_print(true);
    }
}
