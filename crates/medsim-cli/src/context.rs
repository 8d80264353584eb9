//! What every command that runs models needs, loaded once: the settings, where things are kept,
//! the dataset store; and from them a run's models, prompts, embedder and actor assembler.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use medsim_core::Dataset;
use medsim_core::transcript::RoleName;
use medsim_engine::assemble::{Assembler, StrategySetup};
use medsim_engine::run::{Observer, RunError, RunOutcome, RunPlan};
use medsim_engine::setup::{MeasurementMode, Setup};
use medsim_llm::ModelFactory;
use medsim_llm::embedding::SharedEmbedder;
use medsim_llm::pricing::PriceTable;

use crate::BadInput;
use crate::cli::{CacheArgs, GlobalArgs};
use crate::datasets::DatasetStore;
use crate::progress::Progress;
use crate::settings::Settings;

/// Where medsim keeps things, and whether it may use the network.
pub struct Places {
    /// Datasets and the default replay cache.
    pub cache_dir: PathBuf,
    /// Installed models.
    pub data_dir: PathBuf,
    /// No network.
    pub offline: bool,
}

/// Settings, places and the dataset store.
pub struct Context {
    /// medsim.toml.
    pub settings: Settings,
    /// Directories.
    pub places: Places,
    /// Datasets.
    pub store: DatasetStore,
}

/// The one data-directory resolver: `--data-dir` / `MEDSIM_DATA_DIR`, else the platform's.
pub fn data_dir(global: &GlobalArgs) -> Result<PathBuf> {
    if let Some(directory) = &global.data_dir {
        return Ok(directory.clone());
    }
    crate::local::default_data_dir()
        .ok_or_else(|| anyhow::anyhow!("no user data directory is known on this system; pass --data-dir DIR"))
}

impl Context {
    /// Loads the settings and the store.
    pub fn load(global: &GlobalArgs) -> Result<Context> {
        let store = DatasetStore::new(global.cache_dir.clone(), global.offline)?;
        let settings = Settings::load(global.config.as_deref())?;
        let places =
            Places { cache_dir: store.cache_dir.clone(), data_dir: data_dir(global)?, offline: global.offline };
        Ok(Context { settings, places, store })
    }

    /// A model factory with the replay cache asked for.
    pub fn factory(&self, cache: &CacheArgs) -> Result<Arc<ModelFactory>> {
        Ok(Arc::new(self.settings.factory(cache, &self.places.cache_dir, &self.places.data_dir)?))
    }

    /// Each role's model: the setup's, else `[roles]`, else the embedded default; installed if
    /// it is a known local model that is missing, and loaded now (saying so) if it is local.
    /// `outside`: a role someone outside plays (a person, a policy): no model is loaded for it.
    pub fn role_models(
        &self,
        setup: &Setup,
        factory: &ModelFactory,
        outside: Option<RoleName>,
    ) -> Result<BTreeMap<RoleName, String>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let mut models = BTreeMap::new();
        for role in [RoleName::Doctor, RoleName::Patient, RoleName::Measurement, RoleName::Judge] {
            if Some(role) == outside
                || (role == RoleName::Measurement && setup.measurement == MeasurementMode::Grounded)
            {
                continue;
            }
            let Some(spec) = self.settings.role_model_or_default(role, &setup.roles) else { continue };
            runtime.block_on(crate::local::ensure_installed(&spec, &self.places.data_dir, self.places.offline))?;
            if !models.values().any(|known| known == &spec) {
                crate::local::preload(factory, &spec)?;
            }
            models.insert(role, spec);
        }
        Ok(models)
    }

    /// The embedder a setup names (installing the local one if needed).
    pub async fn embedder(&self, setup: &Setup, factory: &ModelFactory) -> Result<SharedEmbedder> {
        let spec = setup.embedder.clone().or(crate::local::DEFAULT_EMBEDDER.map(str::to_owned)).ok_or_else(|| {
            BadInput(
                "memory needs an embedder and this medsim has no local one\n  hint: pass --embedder PROVIDER/MODEL"
                    .into(),
            )
        })?;
        if spec.starts_with("local/") {
            return crate::local::embedder(&spec, &self.places.data_dir, self.places.offline).await;
        }
        factory.embedder(&spec, 0).map_err(|error| BadInput(error.to_string()).into())
    }

    /// What a command that runs episodes needs for `setup`: the models (installed and loaded),
    /// a runtime, and the embedder when the strategies read memory.
    pub fn session(&self, setup: &Setup, cache: &CacheArgs) -> Result<Session> {
        self.session_with(setup, cache, None)
    }

    /// [`Context::session`] with `outside` played by someone outside: its model is not loaded.
    pub fn session_with(&self, setup: &Setup, cache: &CacheArgs, outside: Option<RoleName>) -> Result<Session> {
        let factory = self.factory(cache)?;
        let models = self.role_models(setup, &factory, outside)?;
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        Ok(Session { factory, models, runtime, prices: Arc::new(self.settings.llm.price_table()) })
    }
}

/// Models, prices and a runtime, set up once per command.
pub struct Session {
    /// Models.
    pub factory: Arc<ModelFactory>,
    /// Each role's model.
    pub models: BTreeMap<RoleName, String>,
    /// The runtime the run's tasks run on.
    pub runtime: tokio::runtime::Runtime,
    /// Prices.
    pub prices: Arc<PriceTable>,
}

impl Session {
    /// The actors' assembler for a setup and its strategies.
    pub fn assembler(&self, setup: &Setup, strategy: StrategySetup) -> Result<Assembler, RunError> {
        Assembler::new(setup.clone(), self.factory.clone(), self.prices.clone(), self.models.clone(), strategy)
    }

    /// The assembler for evaluating `cases` with the setup's strategies: memory opened read-only
    /// (with its embedder) when they read it, refusing a case the memory holds. Also returns
    /// what run.json records of the memory.
    pub fn evaluation_assembler(
        &self,
        ctx: &Context,
        setup: &Setup,
        dataset: &Dataset,
        cases: &[medsim_core::case::Case],
    ) -> Result<(Assembler, Option<serde_json::Value>)> {
        let embedder = match medsim_engine::learning::needs_memory(setup) {
            true => Some(self.runtime.block_on(ctx.embedder(setup, &self.factory))?),
            false => None,
        };
        let (strategy, memory) = medsim_engine::learning::evaluation_strategy(setup, embedder, dataset, cases, None)?;
        Ok((self.assembler(setup, strategy)?, memory))
    }

    /// Runs `work` (one or more runs) on the session's runtime with progress lines on standard
    /// error.
    pub fn watch<T, F>(&self, work: impl FnOnce(Arc<dyn Observer>) -> F) -> Result<T, RunError>
    where
        F: std::future::Future<Output = Result<T, RunError>>,
    {
        let progress = Progress::new(self.factory.meter());
        let ticker = progress.start_ticker();
        let result = self.runtime.block_on(work(progress.clone()));
        progress.finish(ticker);
        result
    }

    /// Runs one plan with progress lines.
    pub fn execute(&self, plan: &RunPlan, dataset: &Dataset, assembler: &Assembler) -> Result<RunOutcome, RunError> {
        self.watch(|observer| medsim_engine::run::execute(plan, dataset, assembler, observer))
    }

    /// The judge's model when it is a small local one, for the warning after a run.
    pub fn warn_small_judge(&self, outcome: &RunOutcome) {
        let by_model = outcome.summary.verdicts.get("judge").copied().unwrap_or(0);
        if let Some(judge) = self.models.get(&RoleName::Judge).filter(|judge| judge.starts_with("local/"))
            && by_model > 0
        {
            eprintln!(
                "warning: {by_model} verdict(s) came from the small local judge {judge}, which agrees with clinicians' labels far less often than a large model (BENCHMARKS.md, \"Judge\"); for figures to publish, set --judge-model to a strong model"
            );
        }
    }
}
