//! The one place wisp configures wasmtime.
//!
//! Every engine choice is a named constant or an [`EngineConfig`] field with its
//! reason, so tuning happens here and nowhere else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
};

/// How often the epoch advances. Each tick makes every running guest yield to the
/// tokio scheduler once, so a busy loop holds a thread for at most this long
/// before it can be moved off the request threads (see `demote`). A yield costs
/// well under a microsecond; the ticker thread wakes 500 times a second.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Core wasm instances a single component may create (Rust and C components
/// usually need 1-3; adapters and shims add a few).
const CORE_INSTANCES_PER_SLOT: u32 = 8;
/// Linear memories and tables per component, for the same reason.
const MEMORIES_PER_SLOT: u32 = 2;
const TABLES_PER_SLOT: u32 = 4;

/// Bytes of each linear memory that stay resident and are reset in user space
/// when an instance is dropped, instead of being handed back to the kernel with
/// `madvise`. Returning pages costs a TLB shootdown across every core running the
/// process. With `PAGEMAP_SCAN` (Linux 6.7+, see [`build_engine`]) only the pages
/// the instance actually dirtied are reset, so a generous window costs nothing
/// for small functions: a Rust guest's 1 MiB shadow stack plus its data and
/// first heap pages fit, and most resets never enter the kernel at all.
pub const MEMORY_KEEP_RESIDENT: usize = 4 << 20;
/// The same for tables and for async (fiber) stacks.
pub const TABLE_KEEP_RESIDENT: usize = 1 << 20;
/// Async stack bytes kept resident between uses.
pub const STACK_KEEP_RESIDENT: usize = 128 << 10;
/// Slots whose pages beyond the keep-resident windows go back to the kernel
/// together. Batching divides the cross-core TLB flushes, but every slot waiting
/// in a batch keeps its memory resident: 16 instances that each grew to 17 MiB
/// (a 9 MiB upload read into a CGI command) held 270 MiB until the batch was
/// flushed. Small functions stay within the keep-resident windows and decommit
/// nothing, so returning each big instance's pages at once costs them nothing.
pub const DECOMMIT_BATCH: usize = 1;
/// Instance slots not in use that keep their resident pages (the keep-resident
/// windows above); beyond, the least recently used are fully decommitted.
/// Every slot ever used otherwise keeps its windows resident: wasmtime's default
/// of 100 let a server serving a few functions grow by 200 MiB over a minute of
/// mixed traffic as more slots were touched. Warm slots are only needed for the
/// instances running at once, a handful per core.
pub const MAX_UNUSED_WARM_SLOTS: u32 = 8;
/// Size of each guest's async stack (host frames and wasm frames share it).
pub const ASYNC_STACK_SIZE: usize = 2 << 20;
/// Deepest wasm stack a guest may use before a stack-overflow trap; below the
/// async stack so the host always has room to report the trap.
pub const MAX_WASM_STACK: usize = 1 << 20;

/// Engine settings chosen by the operator.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most instances alive at once; sizes the pooling allocator.
    pub max_instances: u32,
    /// Most linear memory any instance may have, in bytes; per-action limits are
    /// enforced below this.
    pub max_memory_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_instances: 256,
            max_memory_bytes: 512 << 20,
        }
    }
}

/// Builds the engine: Cranelift, async, epoch interruption, pooling allocator with
/// copy-on-write memory images.
pub fn build_engine(cfg: &EngineConfig) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(OptLevel::Speed);
    // Data segments are mapped copy-on-write from the compiled image instead of
    // being copied into each new instance.
    config.memory_init_cow(true);
    config.async_stack_size(ASYNC_STACK_SIZE);
    config.max_wasm_stack(MAX_WASM_STACK);

    let n = cfg.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n);
    pool.total_core_instances(n * CORE_INSTANCES_PER_SLOT);
    pool.total_memories(n * MEMORIES_PER_SLOT);
    pool.total_tables(n * TABLES_PER_SLOT);
    pool.total_stacks(n);
    pool.max_memory_size(cfg.max_memory_bytes);
    pool.linear_memory_keep_resident(MEMORY_KEEP_RESIDENT);
    pool.table_keep_resident(TABLE_KEEP_RESIDENT);
    pool.async_stack_keep_resident(STACK_KEEP_RESIDENT);
    pool.decommit_batch_size(DECOMMIT_BATCH);
    pool.max_unused_warm_slots(MAX_UNUSED_WARM_SLOTS);
    // Find dirty pages with the PAGEMAP_SCAN ioctl instead of resetting the
    // whole keep-resident window; falls back to plain memset on older kernels.
    pool.pagemap_scan(Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a thread of its own; the
/// thread stops when this guard is dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine`.
    pub fn start(engine: Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("wisp-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(EpochTicker {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
