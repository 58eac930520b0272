//! The wasmtime embedding: the filter component compiled and pre-linked once, then a fresh,
//! limited instance for every check.
//!
//! Start-up (once): an `Engine` with the pooling allocator and epoch interruption, a ticker
//! thread that advances the epoch, a `Linker` with the `keyring`, `digest` and `settings` imports
//! and every other import defined as a trap (the component's std imports `wasi:cli` and `wasi:io` but never
//! calls them: no WASI context is built, so the filter has no files, environment, network or
//! clock, and a fresh store costs nothing for them), and the instantiated-ahead `FilterPre`.
//! Per check: an instance with the check's configuration, memory cap and a fresh epoch deadline;
//! call; then drop it. With `[sandbox] instance_reuse = N > 1`, an instance that finished cleanly
//! serves up to N checks (the filter keeps no state between calls, and an instance that trapped,
//! hit its deadline or its memory cap is never reused): that spares the instantiation, measured
//! in BENCHMARKS.md.

use crate::config::Config;
use anyhow::Context as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use taskgate_filter::sign::keyed::constant_time_eq;
use taskgate_filter::{
    Credentials as _, Dialect, EdgeFailure, Env as _, Request, Response, SigningCredential,
    TaskToken, TemporaryCredentials, TokenError, Verdict,
};
use wasmtime::component::{self, Component, ComponentExportIndex, HasSelf, Linker, TypedFunc};
use wasmtime::{
    Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder,
};

#[allow(
    missing_docs,
    reason = "generated bindings; the WIT files carry the documentation"
)]
mod bindings {
    wasmtime::component::bindgen!({ path: "../wit", world: "filter" });
}

use bindings::taskgate::filter::{digest, keyring, settings, types as wit};

taskgate_filter::wit_conversions!(wit, settings, keyring);
use convert::*;

/// How often the epoch advances; deadlines are counted in these ticks. Coarse on purpose: the
/// deadline stops runaway checks, and a finer tick would wake an idle host a thousand times a second.
const TICK: Duration = Duration::from_millis(5);
/// Bytes of each memory (and of each table) kept resident between instances; see `new`.
const KEEP_RESIDENT: usize = 2 << 20;
const KEEP_RESIDENT_TABLES: usize = 64 << 10;
/// Instances that may exist at once (one per check in flight).
const POOL_INSTANCES: u32 = 256;

/// How the component is compiled when a sandbox is made.
#[derive(PartialEq, Eq)]
enum Compile {
    /// On a pool of threads: quickest, for commands that check and exit.
    Parallel,
    /// On the calling thread: leaner afterwards, for a process that keeps running.
    OnThisThread,
}

/// A compiled, pre-linked filter component, ready to check requests. Cheap to share.
pub struct Sandbox {
    engine: Engine,
    pre: bindings::FilterPre<State>,
    /// Where each export sits in the component, for the typed bindings of the rarer calls.
    indices: bindings::FilterIndices,
    /// `validator.check`, found and type-checked once: the per-request call skips the bindings'
    /// `load`, which type-checks every export of every new instance (measured in BENCHMARKS.md).
    check: ComponentExportIndex,
    /// Checks one instance may serve before it is dropped; 1 means a fresh instance every time.
    reuse: u32,
    /// Instances that finished a check cleanly and may serve another.
    warm: Mutex<Vec<Warm>>,
}

/// An instance kept for its next check. The filter keeps no state between calls; an instance
/// that failed in any way is never put back.
struct Warm {
    store: Store<State>,
    instance: component::Instance,
    checks: u32,
}

impl Warm {
    /// The typed bindings of every export, for the calls other than `check` (rarer: looking
    /// them up type-checks each export again).
    fn filter(&mut self, sandbox: &Sandbox) -> anyhow::Result<bindings::Filter> {
        Ok(sandbox.indices.load(&mut self.store, &self.instance)?)
    }
}

/// Most warm instances kept at once (each holds a slot of the pool).
const MAX_WARM: usize = 64;

/// Everything one check's store holds.
struct State {
    config: Arc<Config>,
    /// The `temporary_credentials` in force for this check: the route's, else `[serve]`'s.
    temporary_credentials: TemporaryCredentials,
    /// Checking a request the edge re-signed: its credential verifies as the worker's key.
    resigned: Option<Resigned>,
    limits: StoreLimits,
}

impl State {
    fn new(config: &Arc<Config>) -> State {
        State {
            config: Arc::clone(config),
            temporary_credentials: config.serve.temporary_credentials,
            resigned: None,
            limits: limits(config),
        }
    }

    /// The re-signing when `id` is its credential's access key id, in a check of a re-signed
    /// request.
    fn resigned_by(&self, id: &str) -> Option<&Resigned> {
        (self.resigned.as_ref()).filter(|resigned| resigned.credential.access_key_id == id)
    }
}

/// What a second check of a request the edge re-signed knows: the request is signed with
/// `credential` (as it was when it signed) on behalf of a worker key of `account`, so that key
/// id verifies, with the credential's secret, as a key of that account (and of nothing else).
#[derive(Debug, Clone)]
pub struct Resigned {
    /// The credential that signed.
    pub credential: SigningCredential,
    /// The account of the worker key whose request was re-signed.
    pub account: String,
}

/// The keyring the guest asks: secrets stay here, the guest gets yes or no and an account.
impl keyring::Host for State {
    fn access_key_account(&mut self, id: String) -> Option<String> {
        match self.resigned_by(&id) {
            Some(resigned) => Some(resigned.account.clone()),
            None => self.config.access_key_account(&id),
        }
    }

    fn verify_signature(
        &mut self,
        id: String,
        signing: keyring::Signing,
        message: Vec<u8>,
        mac: Vec<u8>,
    ) -> bool {
        let signing = signing_of_wit(&signing);
        match self.resigned_by(&id) {
            Some(resigned) => (resigned.credential)
                .sign("", signing, &message)
                .is_some_and(|expected| constant_time_eq(&expected, &mac)),
            None => self.config.verify_signature(&id, signing, &message, &mac),
        }
    }

    fn verify_token_mac(&mut self, message: Vec<u8>, mac: Vec<u8>) -> keyring::TokenMac {
        to_wit_token_mac(self.config.verify_token_mac(&message, &mac))
    }
}

/// Hashing for the guest, with the CPU's SHA instructions (the guest has none).
impl digest::Host for State {
    fn sha256(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        use sha2::Digest as _;
        sha2::Sha256::digest(&bytes).to_vec()
    }
}

impl settings::Host for State {
    fn get_limits(&mut self) -> settings::Limits {
        to_wit_limits(self.config.limits)
    }

    fn get_other_calls(&mut self) -> settings::OtherCalls {
        to_wit_other_calls(self.config.other_calls())
    }

    fn get_temporary_credentials(&mut self) -> settings::TemporaryCredentials {
        to_wit_temporary_credentials(self.temporary_credentials)
    }
}

impl wit::Host for State {}

impl Sandbox {
    /// Compiles `component` (a `.wasm` file's bytes) and links it. `memory_bytes` sizes the
    /// pool's memory slots: no instance can grow past it. `reuse` is how many checks one
    /// instance may serve (1: a fresh instance for every check).
    pub fn new(component: &[u8], memory_bytes: usize, reuse: u32) -> anyhow::Result<Sandbox> {
        Sandbox::build(component, memory_bytes, reuse, Compile::Parallel)
    }

    /// Like [`Sandbox::new`], for a long-running gateway: the component is compiled on this
    /// thread. Start-up takes about 0.1 s longer, once; the idle process is about 4 MiB
    /// smaller, without the compiler's thread pool and the allocator arenas its threads leave.
    pub fn for_gateway(
        component: &[u8],
        memory_bytes: usize,
        reuse: u32,
    ) -> anyhow::Result<Sandbox> {
        Sandbox::build(component, memory_bytes, reuse, Compile::OnThisThread)
    }

    fn build(
        component: &[u8],
        memory_bytes: usize,
        reuse: u32,
        compile: Compile,
    ) -> anyhow::Result<Sandbox> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 4)
            .total_memories(POOL_INSTANCES * 2)
            .total_tables(POOL_INSTANCES * 4)
            .max_memory_size(memory_bytes)
            // A check touches about a megabyte (stack, data, a heap for a 64 KiB body). Keeping
            // those pages resident and resetting them in place, instead of handing them back to
            // the kernel, spares every fresh instance the page faults of touching them again.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT_TABLES)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = wasmtime::Config::new();
        config
            .epoch_interruption(true)
            .parallel_compilation(compile == Compile::Parallel)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // `TASKGATE_PERFMAP=1` writes /tmp/perf-PID.map so `perf report` can name the
        // component's functions (how the figures in BENCHMARKS.md were broken down).
        if std::env::var_os("TASKGATE_PERFMAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;
        let component = Component::new(&engine, component)
            .map_err(anyhow::Error::from)
            .context("compiling the filter component")?;

        let mut linker = Linker::<State>::new(&engine);
        bindings::Filter::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state)?;
        // Rust std's `wasi:cli`/`wasi:io` imports, never called by the filter: calling one traps.
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(anyhow::Error::from)?;
        let pre = bindings::FilterPre::new(linker.instantiate_pre(&component).map_err(anyhow::Error::from).context(
            "the component does not fit the taskgate:filter world (is it a taskgate filter build?)",
        )?)?;
        let indices = bindings::FilterIndices::new(pre.instance_pre())?;
        let check = check_export(&engine, &pre)?;
        start_ticker(&engine)?;
        Ok(Sandbox {
            engine,
            pre,
            indices,
            check,
            reuse: reuse.max(1),
            warm: Mutex::new(Vec::new()),
        })
    }

    /// The embedded component, with the configuration's memory cap.
    pub fn embedded(config: &Config) -> anyhow::Result<Sandbox> {
        Sandbox::new(
            crate::EMBEDDED_COMPONENT,
            config.sandbox.memory_bytes,
            config.sandbox.instance_reuse,
        )
    }

    /// An instance for one check: a warm one when reuse is on and one is free, else a new one.
    /// Either way it gets this check's configuration, memory cap and a fresh deadline.
    fn instance(&self, config: &Arc<Config>) -> anyhow::Result<Warm> {
        let pooled = if self.reuse > 1 {
            self.warm.lock().ok().and_then(|mut warm| warm.pop())
        } else {
            None
        };
        let mut instance = match pooled {
            Some(instance) => instance,
            None => {
                let mut store = Store::new(&self.engine, State::new(config));
                store.limiter(|state| &mut state.limits);
                // A new store's deadline is already due: instantiation needs one too.
                store.set_epoch_deadline(deadline_ticks(config));
                let instance = self.pre.instance_pre().instantiate(&mut store)?;
                Warm {
                    store,
                    instance,
                    checks: 0,
                }
            }
        };
        *instance.store.data_mut() = State::new(config);
        instance.store.set_epoch_deadline(deadline_ticks(config));
        Ok(instance)
    }

    /// Keeps an instance that finished cleanly for another check, while it has checks left.
    fn keep(&self, mut instance: Warm) {
        instance.checks += 1;
        if instance.checks < self.reuse
            && let Ok(mut warm) = self.warm.lock()
            && warm.len() < MAX_WARM
        {
            warm.push(instance);
        }
    }

    /// Checks one request in an instance of the pool (fresh unless `instance_reuse` lets a clean
    /// one serve again). An error means the component itself failed (a
    /// trap, the deadline, the memory cap): the request was neither accepted nor rejected.
    pub fn check(&self, config: &Arc<Config>, request: Request) -> anyhow::Result<Verdict> {
        self.check_under(config, config.serve.temporary_credentials, request)
    }

    /// Checks one request like [`Sandbox::check`], with the `temporary_credentials` of the
    /// route it came by (a route may override `[serve]`'s).
    pub fn check_under(
        &self,
        config: &Arc<Config>,
        temporary_credentials: TemporaryCredentials,
        request: Request,
    ) -> anyhow::Result<Verdict> {
        self.check_in(config, temporary_credentials, None, request)
    }

    /// Checks a request the edge re-signed (`resign`) once more before it is forwarded, its
    /// credential verifying as the worker's key: the edge never forwards what it would refuse.
    pub fn recheck(
        &self,
        config: &Arc<Config>,
        temporary_credentials: TemporaryCredentials,
        resigned: Resigned,
        request: Request,
    ) -> anyhow::Result<Verdict> {
        self.check_in(config, temporary_credentials, Some(resigned), request)
    }

    #[expect(
        unsafe_code,
        reason = "the one unchecked typed call, as the generated bindings make it themselves"
    )]
    fn check_in(
        &self,
        config: &Arc<Config>,
        temporary_credentials: TemporaryCredentials,
        resigned: Option<Resigned>,
        request: Request,
    ) -> anyhow::Result<Verdict> {
        let mut instance = self.instance(config)?;
        let state = instance.store.data_mut();
        state.temporary_credentials = temporary_credentials;
        state.resigned = resigned;
        let func = (instance.instance)
            .get_func(&mut instance.store, self.check)
            .context("the component lost its check export")?;
        // SAFETY: `check_export` type-checked this export of this component against these
        // types when the sandbox was made; every instance comes from the same component.
        let check = unsafe { TypedFunc::<(&wit::Request,), (wit::Verdict,)>::new_unchecked(func) };
        // On any error the instance is dropped here, never kept.
        let (verdict,) = check.call(&mut instance.store, (&to_wit_request(request),))?;
        self.keep(instance);
        Ok(verdict_of_wit(verdict))
    }

    /// Checks one request like [`Sandbox::check`] and also returns the rules it passed.
    pub fn explain(
        &self,
        config: &Arc<Config>,
        request: Request,
    ) -> anyhow::Result<(Verdict, Vec<String>)> {
        let mut instance = self.instance(config)?;
        let filter = instance.filter(self)?;
        let explanation = filter
            .taskgate_filter_validator()
            .call_explain(&mut instance.store, &to_wit_request(request))?;
        self.keep(instance);
        Ok((verdict_of_wit(explanation.verdict), explanation.steps))
    }

    /// The vendor's answer to a failure the host found itself (`EdgeFailure`), rendered by the
    /// component from the request's head: a loaded component decides these bytes as it decides
    /// its rejections. An error means the component could not answer even this.
    pub fn respond(
        &self,
        config: &Arc<Config>,
        request: &Request,
        failure: EdgeFailure,
    ) -> anyhow::Result<Response> {
        let mut instance = self.instance(config)?;
        let filter = instance.filter(self)?;
        let response = filter.taskgate_filter_validator().call_respond(
            &mut instance.store,
            &to_wit_request(request.head()),
            &to_wit_failure(failure),
        )?;
        self.keep(instance);
        Ok(response_of_wit(response))
    }

    /// Whether the upstream's answer to a forwarded report settles its task, as the component
    /// judges it (the service's own "already closed" codes are its knowledge, not the host's).
    pub fn settles(
        &self,
        config: &Arc<Config>,
        dialect: Dialect,
        status: u16,
        body: &[u8],
    ) -> anyhow::Result<bool> {
        let mut instance = self.instance(config)?;
        let filter = instance.filter(self)?;
        let settles = filter.taskgate_filter_validator().call_settles(
            &mut instance.store,
            to_wit_dialect(dialect),
            status,
            body,
        )?;
        self.keep(instance);
        Ok(settles)
    }

    /// Decodes (and, with token keys configured, verifies) a task token, in an instance as
    /// [`Sandbox::check`] takes one.
    pub fn decode_token(
        &self,
        config: &Arc<Config>,
        token: &str,
    ) -> anyhow::Result<Result<TaskToken, TokenError>> {
        let mut instance = self.instance(config)?;
        let filter = instance.filter(self)?;
        let result = filter
            .taskgate_filter_validator()
            .call_decode_token(&mut instance.store, token)?;
        self.keep(instance);
        Ok(result.map(token_of_wit).map_err(token_error_of_wit))
    }
}

/// Finds `validator.check` in the component and type-checks it, once, in a scratch instance
/// (the index then serves every instance of the same component).
fn check_export(
    engine: &Engine,
    pre: &bindings::FilterPre<State>,
) -> anyhow::Result<ComponentExportIndex> {
    let component = pre.instance_pre().component();
    // `taskgate:filter@X.Y.Z` (the WIT package, from the build script): the interface is
    // `taskgate:filter/validator@X.Y.Z`.
    let (package, version) = env!("TASKGATE_WIT_PACKAGE")
        .split_once('@')
        .context("the WIT package has no version")?;
    let interface = format!("{package}/validator@{version}");
    let (_, validator) = component
        .get_export(None, &interface)
        .with_context(|| format!("the component does not export {interface}"))?;
    let (_, check) = component
        .get_export(Some(&validator), "check")
        .with_context(|| format!("{interface} has no check"))?;
    let config = Arc::new(Config::demo()?);
    let mut store = Store::new(engine, State::new(&config));
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = pre.instance_pre().instantiate(&mut store)?;
    instance
        .get_typed_func::<(&wit::Request,), (wit::Verdict,)>(&mut store, check)
        .map_err(anyhow::Error::from)
        .context("validator.check has another signature than this host's")?;
    Ok(check)
}

/// The configured deadline in epoch ticks (at least one).
fn deadline_ticks(config: &Config) -> u64 {
    config
        .sandbox
        .deadline_ms
        .div_ceil(TICK.as_millis() as u64)
        .max(1)
}

/// The store limits for a check under this configuration.
fn limits(config: &Config) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(config.sandbox.memory_bytes)
        .trap_on_grow_failure(true)
        .build()
}

/// Advances the engine's epoch every tick until the engine is dropped.
fn start_ticker(engine: &Engine) -> anyhow::Result<()> {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("taskgate-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .context("starting the epoch ticker thread")?;
    Ok(())
}
