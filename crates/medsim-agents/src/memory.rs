//! Experience memory: an embedded SQLite file with two buffers, searched by cosine similarity.
//!
//! - the **record** buffer holds consultations diagnosed correctly during learning: what the
//!   doctor learned from the patient and the tests, the key questions and tests, its reasoning
//!   and the diagnosis;
//! - the **experience** buffer holds lessons from reflection on wrong verdicts, kept only when
//!   the lesson fixed the retried diagnosis.
//!
//! Every entry is embedded once when written. The whole file is read into memory on open;
//! search is exact below [`IVF_THRESHOLD`] entries and an inverted-file index (spherical
//! k-means lists, several probed) above it, so a query stays well under a millisecond at 100k
//! entries (`cargo bench -p medsim-agents --bench retrieval`).
//!
//! Only `medsim learn` opens a memory for writing, and only after a verdict; evaluation opens
//! it read-only. Each entry records the training case and its position in the training order,
//! so a learning curve can evaluate "memory after the first N training cases" exactly.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use medsim_core::transcript::{Event, EventKind, RoleName};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Entries above which an inverted-file index replaces the exact scan.
pub const IVF_THRESHOLD: usize = 8192;

/// Why memory failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// SQLite failed.
    #[error("memory {path}: {source}")]
    Sqlite {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The file does not fit this use.
    #[error("memory {path}: {message}\n  hint: {hint}")]
    Mismatch {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The memory was opened read-only.
    #[error("memory {0} is open read-only: evaluation never writes to memory")]
    ReadOnly(String),
}

/// Which buffer an entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Buffer {
    /// A solved case.
    Record,
    /// A lesson.
    Experience,
}

impl Buffer {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Buffer::Record => "record",
            Buffer::Experience => "experience",
        }
    }

    fn parse(text: &str) -> Buffer {
        if text == "experience" { Buffer::Experience } else { Buffer::Record }
    }
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Row id.
    pub id: i64,
    /// Buffer.
    pub buffer: Buffer,
    /// Dataset the training case came from.
    pub dataset: String,
    /// The training case.
    pub case_id: String,
    /// Position of the case in the training order, from 0.
    pub train_index: u32,
    /// The text that was embedded.
    pub key: String,
    /// The worked example or lesson placed in prompts.
    pub text: String,
}

/// What a search may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    /// Solved cases.
    pub records: bool,
    /// Lessons.
    pub experiences: bool,
    /// Only entries from the first N training cases (learning curves).
    pub max_train_cases: Option<u32>,
}

impl Filter {
    /// Both buffers, every entry.
    pub const ALL: Filter = Filter { records: true, experiences: true, max_train_cases: None };

    fn admits(&self, entry: &Entry) -> bool {
        let buffer = match entry.buffer {
            Buffer::Record => self.records,
            Buffer::Experience => self.experiences,
        };
        buffer && self.max_train_cases.is_none_or(|limit| entry.train_index < limit)
    }
}

/// A memory file, held in memory.
pub struct Memory {
    path: PathBuf,
    connection: Option<Mutex<Connection>>,
    embedder: String,
    meta: std::collections::BTreeMap<String, String>,
    entries: Vec<Entry>,
    index: VectorIndex,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory").field("path", &self.path).field("entries", &self.entries.len()).finish()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    buffer TEXT NOT NULL,
    dataset TEXT NOT NULL,
    case_id TEXT NOT NULL,
    train_index INTEGER NOT NULL,
    key TEXT NOT NULL,
    text TEXT NOT NULL,
    embedding BLOB NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now')),
    UNIQUE (buffer, dataset, case_id)
);";

impl Memory {
    /// Opens (creating if needed) a memory for learning with embeddings of `dimensions` from
    /// `embedder`. An existing file made with another embedder is refused.
    pub fn open_for_learning(path: &Path, embedder: &str, dimensions: usize) -> Result<Memory, MemoryError> {
        let sqlite = |source| MemoryError::Sqlite { path: path.display().to_string(), source };
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| MemoryError::Mismatch {
                path: path.display().to_string(),
                message: format!("cannot create its directory: {error}"),
                hint: "choose a writable place for --memory".into(),
            })?;
        }
        let connection = Connection::open(path).map_err(sqlite)?;
        // A rollback journal, not WAL: a read-only evaluation then leaves the file untouched.
        connection.execute_batch(SCHEMA).map_err(sqlite)?;
        let recorded: Option<String> = connection
            .query_row("SELECT value FROM meta WHERE key = 'embedder'", [], |row| row.get(0))
            .optional()
            .map_err(sqlite)?;
        match recorded {
            Some(recorded) if recorded != embedder => {
                return Err(MemoryError::Mismatch {
                    path: path.display().to_string(),
                    message: format!("its entries were embedded by {recorded}, not {embedder}"),
                    hint: format!("pass --embedder {recorded}, or start a new memory file"),
                });
            }
            Some(_) => {}
            None => {
                connection
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('embedder', ?1), ('dimensions', ?2), ('schema', '1')",
                        params![embedder, dimensions.to_string()],
                    )
                    .map_err(sqlite)?;
            }
        }
        let mut memory = Memory::load(path, connection, embedder)?;
        if memory.index.dimensions != 0 && memory.index.dimensions != dimensions {
            return Err(MemoryError::Mismatch {
                path: path.display().to_string(),
                message: format!(
                    "it holds {}-dimensional vectors, the embedder gives {dimensions}",
                    memory.index.dimensions
                ),
                hint: "use the embedder the memory was made with".into(),
            });
        }
        memory.index.dimensions = dimensions;
        Ok(memory)
    }

    /// Opens a memory for evaluation: read-only, nothing can be written.
    pub fn open_read_only(path: &Path) -> Result<Memory, MemoryError> {
        let sqlite = |source| MemoryError::Sqlite { path: path.display().to_string(), source };
        if !path.is_file() {
            return Err(MemoryError::Mismatch {
                path: path.display().to_string(),
                message: "no such file".into(),
                hint: "build one with `medsim learn --memory FILE` first".into(),
            });
        }
        let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sqlite)?;
        let embedder: String = connection
            .query_row("SELECT value FROM meta WHERE key = 'embedder'", [], |row| row.get(0))
            .map_err(|_| MemoryError::Mismatch {
                path: path.display().to_string(),
                message: "not a medsim memory file (no embedder recorded)".into(),
                hint: "build one with `medsim learn --memory FILE`".into(),
            })?;
        let mut memory = Memory::load(path, connection, &embedder)?;
        memory.connection = None;
        Ok(memory)
    }

    fn load(path: &Path, connection: Connection, embedder: &str) -> Result<Memory, MemoryError> {
        let sqlite = |source| MemoryError::Sqlite { path: path.display().to_string(), source };
        let mut entries = Vec::new();
        let mut index = VectorIndex::new(0);
        let mut meta = std::collections::BTreeMap::new();
        {
            let mut statement = connection.prepare("SELECT key, value FROM meta").map_err(sqlite)?;
            let mut rows = statement.query([]).map_err(sqlite)?;
            while let Some(row) = rows.next().map_err(sqlite)? {
                meta.insert(row.get(0).map_err(sqlite)?, row.get(1).map_err(sqlite)?);
            }
        }
        {
            let mut statement = connection
                .prepare(
                    "SELECT id, buffer, dataset, case_id, train_index, key, text, embedding FROM entries ORDER BY id",
                )
                .map_err(sqlite)?;
            let mut rows = statement.query([]).map_err(sqlite)?;
            while let Some(row) = rows.next().map_err(sqlite)? {
                let blob: Vec<u8> = row.get(7).map_err(sqlite)?;
                let vector: Vec<f32> = blob
                    .chunks_exact(4)
                    .map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
                    .collect();
                if index.dimensions == 0 {
                    index.dimensions = vector.len();
                }
                if vector.len() != index.dimensions {
                    return Err(MemoryError::Mismatch {
                        path: path.display().to_string(),
                        message: format!(
                            "entry {} has {} dimensions, not {}",
                            row.get::<_, i64>(0).unwrap_or(0),
                            vector.len(),
                            index.dimensions
                        ),
                        hint: "the file is damaged; rebuild it with `medsim learn`".into(),
                    });
                }
                index.push(&vector);
                entries.push(Entry {
                    id: row.get(0).map_err(sqlite)?,
                    buffer: Buffer::parse(&row.get::<_, String>(1).map_err(sqlite)?),
                    dataset: row.get(2).map_err(sqlite)?,
                    case_id: row.get(3).map_err(sqlite)?,
                    train_index: row.get(4).map_err(sqlite)?,
                    key: row.get(5).map_err(sqlite)?,
                    text: row.get(6).map_err(sqlite)?,
                });
            }
        }
        index.maybe_build();
        Ok(Memory {
            path: path.to_owned(),
            connection: Some(Mutex::new(connection)),
            embedder: embedder.to_owned(),
            meta,
            entries,
            index,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The embedder its vectors came from.
    pub fn embedder(&self) -> &str {
        &self.embedder
    }

    /// All entries, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Entries per buffer: (records, experiences).
    pub fn counts(&self) -> (usize, usize) {
        let records = self.entries.iter().filter(|entry| entry.buffer == Buffer::Record).count();
        (records, self.entries.len() - records)
    }

    /// A stored value of the metadata table (`split`, …).
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta.get(key).map(String::as_str)
    }

    /// Stores a metadata value (learning only).
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), MemoryError> {
        let connection =
            self.connection.as_ref().ok_or_else(|| MemoryError::ReadOnly(self.path.display().to_string()))?;
        let connection = connection.lock().expect("memory connection");
        connection
            .execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![key, value])
            .map_err(|source| MemoryError::Sqlite { path: self.path.display().to_string(), source })?;
        drop(connection);
        self.meta.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    /// Writes an entry (replacing one for the same buffer and case, so a resumed learning run
    /// never duplicates) and returns its id.
    pub fn add(&mut self, mut entry: Entry, vector: &[f32]) -> Result<i64, MemoryError> {
        let path = self.path.display().to_string();
        let connection = self.connection.as_ref().ok_or_else(|| MemoryError::ReadOnly(path.clone()))?;
        if vector.len() != self.index.dimensions {
            return Err(MemoryError::Mismatch {
                path,
                message: format!(
                    "a {}-dimensional vector for a {}-dimensional memory",
                    vector.len(),
                    self.index.dimensions
                ),
                hint: "use the embedder the memory was made with".into(),
            });
        }
        let blob: Vec<u8> = vector.iter().flat_map(|value| value.to_le_bytes()).collect();
        let id = {
            let connection = connection.lock().expect("memory connection");
            connection
                .execute(
                    "INSERT OR REPLACE INTO entries (buffer, dataset, case_id, train_index, key, text, embedding) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![entry.buffer.as_str(), entry.dataset, entry.case_id, entry.train_index, entry.key, entry.text, blob],
                )
                .map_err(|source| MemoryError::Sqlite { path: path.clone(), source })?;
            connection.last_insert_rowid()
        };
        entry.id = id;
        if let Some(position) = self
            .entries
            .iter()
            .position(|old| old.buffer == entry.buffer && old.dataset == entry.dataset && old.case_id == entry.case_id)
        {
            // Replaced: keep the in-memory index consistent by rebuilding it.
            self.entries.remove(position);
            let mut index = VectorIndex::new(self.index.dimensions);
            for (slot, _) in self.entries.iter().enumerate() {
                index.push(self.index.vector(if slot >= position { slot + 1 } else { slot }));
            }
            self.index = index;
        }
        self.index.push(vector);
        self.entries.push(entry);
        self.index.maybe_build();
        Ok(id)
    }

    /// The `k` entries most similar to `query` that pass `filter`, most similar first.
    pub fn search(&self, query: &[f32], k: usize, filter: Filter) -> Vec<(&Entry, f32)> {
        if query.len() != self.index.dimensions || k == 0 {
            return Vec::new();
        }
        let query = normalised(query);
        self.index
            .search(&query, k, |slot| filter.admits(&self.entries[slot]))
            .into_iter()
            .map(|(slot, similarity)| (&self.entries[slot], similarity))
            .collect()
    }
}

fn normalised(vector: &[f32]) -> Vec<f32> {
    let norm = dot(vector, vector).sqrt();
    if norm > 0.0 { vector.iter().map(|value| value / norm).collect() } else { vector.to_vec() }
}

/// Dot product written so the compiler vectorises it (8 lanes).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    let mut sum: f32 = lanes.iter().sum();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

/// Normalised vectors in one contiguous array, searched exactly or through an inverted file.
pub struct VectorIndex {
    dimensions: usize,
    data: Vec<f32>,
    ivf: Option<Ivf>,
}

struct Ivf {
    centroids: Vec<f32>,
    lists: Vec<Vec<u32>>,
    built_at: usize,
}

impl VectorIndex {
    /// An empty index.
    pub fn new(dimensions: usize) -> VectorIndex {
        VectorIndex { dimensions, data: Vec::new(), ivf: None }
    }

    /// Vectors held.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dimensions).unwrap_or(0)
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn vector(&self, slot: usize) -> &[f32] {
        &self.data[slot * self.dimensions..(slot + 1) * self.dimensions]
    }

    /// Adds a vector (normalised here); it joins its nearest list if an index exists.
    pub fn push(&mut self, vector: &[f32]) {
        if self.dimensions == 0 {
            self.dimensions = vector.len();
        }
        let vector = normalised(vector);
        let slot = self.len() as u32;
        self.data.extend_from_slice(&vector);
        if let Some(ivf) = &mut self.ivf {
            let list = nearest(&ivf.centroids, self.dimensions, &vector);
            ivf.lists[list].push(slot);
        }
    }

    /// Builds (or rebuilds, after fourfold growth) the inverted file when large enough.
    pub fn maybe_build(&mut self) {
        let n = self.len();
        let stale = self.ivf.as_ref().is_none_or(|ivf| n >= ivf.built_at * 4);
        if n >= IVF_THRESHOLD && stale {
            self.ivf = Some(self.build());
        }
    }

    fn build(&self) -> Ivf {
        let n = self.len();
        let d = self.dimensions;
        // About 2√n lists: short lists to scan, few enough centroids to compare.
        let lists = ((2.0 * (n as f64).sqrt()) as usize).clamp(16, 4096);
        // Train on an evenly strided sample, at most 64 points per list.
        let sample_size = (lists * 64).min(n);
        let stride = (n / sample_size).max(1);
        let sample: Vec<usize> = (0..sample_size).map(|i| i * stride).collect();
        let mut centroids: Vec<f32> = Vec::with_capacity(lists * d);
        for list in 0..lists {
            centroids.extend_from_slice(self.vector(sample[list * sample.len() / lists]));
        }
        for _ in 0..6 {
            let mut sums = vec![0f32; lists * d];
            let mut counts = vec![0usize; lists];
            for &slot in &sample {
                let vector = self.vector(slot);
                let list = nearest(&centroids, d, vector);
                counts[list] += 1;
                for (sum, value) in sums[list * d..(list + 1) * d].iter_mut().zip(vector) {
                    *sum += value;
                }
            }
            for list in 0..lists {
                if counts[list] > 0 {
                    let centroid = normalised(&sums[list * d..(list + 1) * d]);
                    centroids[list * d..(list + 1) * d].copy_from_slice(&centroid);
                }
            }
        }
        let mut members = vec![Vec::new(); lists];
        for slot in 0..n {
            members[nearest(&centroids, d, self.vector(slot))].push(slot as u32);
        }
        Ivf { centroids, lists: members, built_at: n }
    }

    /// Whether an inverted file is in use (more than [`IVF_THRESHOLD`] vectors).
    pub fn is_indexed(&self) -> bool {
        self.ivf.is_some()
    }

    /// The exact `k` best slots by a full scan (the reference for recall).
    pub fn search_exact(&self, query: &[f32], k: usize) -> Vec<(usize, f32)> {
        self.scan(query, k, |_| true)
    }

    /// Every admitted slot compared with the query.
    fn scan(&self, query: &[f32], k: usize, admit: impl Fn(usize) -> bool) -> Vec<(usize, f32)> {
        let mut best = TopK::new(k);
        for slot in (0..self.len()).filter(|slot| admit(*slot)) {
            best.offer(slot, dot(query, self.vector(slot)));
        }
        best.into_sorted()
    }

    /// The `k` best slots passing `admit`, with similarities, best first.
    pub fn search(&self, query: &[f32], k: usize, admit: impl Fn(usize) -> bool) -> Vec<(usize, f32)> {
        let Some(ivf) = &self.ivf else { return self.scan(query, k, admit) };
        let d = self.dimensions;
        let lists = ivf.lists.len();
        let probes = (lists / 64).max(6).min(lists);
        let mut nearest_lists = TopK::new(probes);
        for list in 0..lists {
            nearest_lists.offer(list, dot(query, &ivf.centroids[list * d..(list + 1) * d]));
        }
        let mut best = TopK::new(k);
        for (list, _) in nearest_lists.into_sorted() {
            for slot in ivf.lists[list].iter().map(|slot| *slot as usize).filter(|slot| admit(*slot)) {
                best.offer(slot, dot(query, self.vector(slot)));
            }
        }
        // A strict filter can leave the probed lists short: fall back to every entry.
        if best.len() < k {
            return self.scan(query, k, admit);
        }
        best.into_sorted()
    }
}

fn nearest(centroids: &[f32], d: usize, vector: &[f32]) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (list, centroid) in centroids.chunks_exact(d).enumerate() {
        let similarity = dot(vector, centroid);
        if similarity > best.1 {
            best = (list, similarity);
        }
    }
    best.0
}

/// The k largest scores seen, kept sorted (k is small).
struct TopK {
    k: usize,
    items: Vec<(usize, f32)>,
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK { k, items: Vec::with_capacity(k + 1) }
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn offer(&mut self, slot: usize, score: f32) {
        if self.items.len() == self.k && self.items.last().is_none_or(|(_, worst)| score <= *worst) {
            return;
        }
        let position = self.items.partition_point(|(_, existing)| *existing >= score);
        self.items.insert(position, (slot, score));
        self.items.truncate(self.k);
    }

    fn into_sorted(self) -> Vec<(usize, f32)> {
        self.items
    }
}

/// Cuts text to at most `limit` characters, on a character boundary, marking the cut.
pub fn clip(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(limit).collect();
    clipped.push('…');
    clipped
}

/// The record of a correctly diagnosed consultation: the text to embed (presentation and
/// findings) and the worked example placed in later prompts. Built from the transcript in
/// code, so it holds only what the doctor saw and said.
pub fn record_of(presentation: &str, events: &[Event], diagnosis: &str) -> (String, String) {
    let mut questions = Vec::new();
    let mut tests = Vec::new();
    let mut findings = Vec::new();
    let mut reasoning = None;
    for event in events {
        match &event.kind {
            EventKind::DoctorAction { action, .. } => {
                if let Some(question) = &action.question {
                    questions.push(clip(question, 160));
                }
                tests.extend(action.tests.iter().cloned());
            }
            EventKind::Utterance { role: RoleName::Patient, text, .. } => findings.push(clip(text, 200)),
            EventKind::TestResults { text, .. } => findings.push(clip(text, 300)),
            EventKind::Reasoning { text, .. } => reasoning = Some(clip(text, 300)),
            _ => {}
        }
    }
    let findings_text = clip(&findings.join(" "), 700);
    let key = format!("{presentation}\n{findings_text}");
    let mut example = format!("Presentation: {}\n", clip(presentation, 300));
    if !questions.is_empty() {
        example.push_str(&format!("Key questions: {}\n", clip(&questions.join(" | "), 300)));
    }
    if !tests.is_empty() {
        example.push_str(&format!("Key tests: {}\n", clip(&tests.join(", "), 200)));
    }
    if !findings_text.is_empty() {
        example.push_str(&format!("What was learned: {findings_text}\n"));
    }
    if let Some(reasoning) = reasoning {
        example.push_str(&format!("Reasoning: {reasoning}\n"));
    }
    example.push_str(&format!("Diagnosis: {diagnosis}"));
    (key, example)
}

/// The transcript of a consultation as the doctor saw it, for reflection and verifiers.
pub fn transcript_of(events: &[Event]) -> String {
    let mut lines = Vec::new();
    for event in events {
        match &event.kind {
            EventKind::Utterance { role, text, .. } => {
                let who = if *role == RoleName::Doctor { "Doctor" } else { "Patient" };
                lines.push(format!("{who}: {text}"));
            }
            EventKind::TestResults { text, .. } => lines.push(format!("Results: {text}")),
            _ => {}
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(i: usize, d: usize) -> Vec<f32> {
        let mut vector = vec![0.0; d];
        vector[i % d] = 1.0;
        vector[(i + 1) % d] = 0.5;
        vector
    }

    #[test]
    fn exact_and_indexed_search_agree_on_clustered_points() {
        let d = 16;
        let mut index = VectorIndex::new(d);
        let mut state = 7u64;
        let mut noise = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.2
        };
        for i in 0..IVF_THRESHOLD + 100 {
            let mut vector = axis(i % 32, d);
            vector.iter_mut().for_each(|value| *value += noise());
            index.push(&vector);
        }
        let exact = {
            let mut flat = VectorIndex::new(d);
            flat.data = index.data.clone();
            flat
        };
        index.maybe_build();
        assert!(index.ivf.is_some());
        let query = normalised(&axis(3, d));
        let found = index.search(&query, 5, |_| true);
        let truth = exact.search(&query, 5, |_| true);
        assert_eq!(found.len(), 5);
        // Approximate: near-ties may differ, but the best found is as good as the best there is.
        assert!(truth[0].1 - found[0].1 < 0.005, "{found:?} vs {truth:?}");
        let common = found.iter().filter(|(slot, _)| truth.iter().any(|(other, _)| other == slot)).count();
        assert!(common >= 3, "{found:?} vs {truth:?}");
        // A filter admitting only one slot still finds it.
        let only = index.search(&query, 1, |slot| slot == 17);
        assert_eq!(only[0].0, 17);
    }

    #[test]
    fn top_k_keeps_the_best_in_order() {
        let mut top = TopK::new(3);
        for (slot, score) in [(0, 0.1), (1, 0.9), (2, 0.5), (3, 0.7), (4, 0.2)] {
            top.offer(slot, score);
        }
        assert_eq!(top.into_sorted(), vec![(1, 0.9), (3, 0.7), (2, 0.5)]);
    }
}
