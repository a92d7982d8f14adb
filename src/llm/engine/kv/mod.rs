//! The KV cache: blocks of 16 positions (every layer's keys and values for them), shared by
//! the sequences that hold the same tokens.
//!
//! - A sequence is a list of blocks. Forking one (the k answers to one prompt) shares its full
//!   blocks and copies only the last, partly filled one.
//! - Full blocks are indexed by their tokens and their parent block, so a new prompt that starts
//!   like an earlier one (the rubric of every critic prompt, a recipe's few-shot header, the
//!   conversation so far) reuses the computed blocks. Unused indexed blocks stay until their
//!   memory is needed, oldest first.
//! - Keys and values are f16 for quantized models (as llama.cpp's default cache), f32 for float
//!   ones; reading converts to f32.
//!
//! A block's keys and values depend only on the tokens up to its end, never on what else is in
//! the batch (see `forward`), so a reused block is exactly what computing it again would give.

mod raw;

pub use raw::KvRaw;
use std::collections::{BTreeSet, HashMap};

/// Positions per block.
pub const BLOCK: usize = 16;
/// Blocks per allocation.
const SLAB: usize = 32;

/// The cache's element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvType {
    F16,
    F32,
}

/// Layers, KV heads and head size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub layers: usize,
    pub heads: usize,
    pub dim: usize,
}

impl Layout {
    /// Values in one block.
    fn block_len(self) -> usize {
        self.layers * self.layer_len()
    }

    /// Values of one block in one layer.
    fn layer_len(self) -> usize {
        2 * self.heads * BLOCK * self.dim
    }

    /// Where `(kind, head)`'s 16 × dim values start in a block's part of a layer (kind 0: keys,
    /// 1: values).
    fn offset(self, kind: usize, head: usize) -> usize {
        (kind * self.heads + head) * BLOCK * self.dim
    }
}

/// Storage, layer by layer: `[slab * layers + layer]` holds that layer's part of 32 blocks, so a
/// layer's attention reads a sequence's blocks (allocated in order, mostly adjacent) as one stream.
enum Slabs {
    F16(Vec<Box<[u16]>>),
    F32(Vec<Box<[f32]>>),
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    parent: Option<(u32, u32)>,
    tokens: [u32; BLOCK],
}

#[derive(Default)]
struct Meta {
    refs: u32,
    /// Bumped when the block is reused for other tokens, so children keys naming it go stale.
    gen: u32,
    key: Option<Key>,
    stamp: u64,
}

/// A sequence: its tokens and the blocks holding their keys and values.
#[derive(Debug, Default, Clone)]
pub struct Seq {
    pub tokens: Vec<u32>,
    pub blocks: Vec<u32>,
    /// Leading blocks already in the index.
    indexed: usize,
}

/// Sequence handle.
pub type SeqId = usize;

/// The cache of every sequence in flight.
pub struct KvCache {
    pub ty: KvType,
    pub layout: Layout,
    slabs: Slabs,
    meta: Vec<Meta>,
    free: Vec<u32>,
    evictable: BTreeSet<(u64, u32)>,
    index: HashMap<Key, u32>,
    limit: usize,
    clock: u64,
    seqs: Vec<Option<Seq>>,
    /// Prompt positions served from the index so far.
    pub reused: usize,
}

impl KvCache {
    /// An empty cache of at most `limit_bytes` (at least one block).
    pub fn new(ty: KvType, layout: Layout, limit_bytes: usize) -> KvCache {
        let slabs = match ty {
            KvType::F16 => Slabs::F16(Vec::new()),
            KvType::F32 => Slabs::F32(Vec::new()),
        };
        let mut c = KvCache {
            ty,
            layout,
            slabs,
            meta: Vec::new(),
            free: Vec::new(),
            evictable: BTreeSet::new(),
            index: HashMap::new(),
            limit: 0,
            clock: 0,
            seqs: Vec::new(),
            reused: 0,
        };
        c.limit = (limit_bytes / c.block_bytes()).max(1);
        c
    }

    /// Bytes of one block.
    pub fn block_bytes(&self) -> usize {
        self.layout.block_len() * if self.ty == KvType::F16 { 2 } else { 4 }
    }

    /// Blocks that can still be taken (free, never allocated, or evictable).
    pub fn available(&self) -> usize {
        self.free.len() + self.limit.saturating_sub(self.meta.len()) + self.evictable.len()
    }

    /// The most blocks the cache holds.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes allocated so far.
    pub fn allocated_bytes(&self) -> usize {
        self.meta.len() * self.block_bytes()
    }

    pub fn seq(&self, id: SeqId) -> &Seq {
        self.seqs[id].as_ref().expect("a live sequence")
    }

    fn seq_mut(&mut self, id: SeqId) -> &mut Seq {
        self.seqs[id].as_mut().expect("a live sequence")
    }

    /// A new, empty sequence.
    pub fn new_seq(&mut self) -> SeqId {
        match self.seqs.iter().position(Option::is_none) {
            Some(i) => {
                self.seqs[i] = Some(Seq::default());
                i
            }
            None => {
                self.seqs.push(Some(Seq::default()));
                self.seqs.len() - 1
            }
        }
    }

    /// Gives the empty sequence `id` the indexed blocks that hold a start of `tokens` (leaving at
    /// least one token to compute, for its logits). Returns the positions reused.
    pub fn reuse(&mut self, id: SeqId, tokens: &[u32]) -> usize {
        let mut parent = None;
        let mut found = Vec::new();
        for chunk in tokens[..tokens.len().saturating_sub(1)].chunks_exact(BLOCK) {
            let key = Key { parent, tokens: chunk.try_into().expect("a full block") };
            let Some(&b) = self.index.get(&key) else { break };
            found.push(b);
            parent = Some((b, self.meta[b as usize].gen));
        }
        for &b in &found {
            self.retain(b);
        }
        let n = found.len() * BLOCK;
        self.reused += n;
        let s = self.seq_mut(id);
        s.tokens.extend_from_slice(&tokens[..n]);
        s.indexed = found.len();
        s.blocks = found;
        n
    }

    fn retain(&mut self, b: u32) {
        let m = &mut self.meta[b as usize];
        if m.refs == 0 {
            self.evictable.remove(&(m.stamp, b));
        }
        m.refs += 1;
    }

    fn release(&mut self, b: u32) {
        self.clock += 1;
        let m = &mut self.meta[b as usize];
        m.refs -= 1;
        if m.refs == 0 {
            if m.key.is_some() {
                m.stamp = self.clock;
                self.evictable.insert((m.stamp, b));
            } else {
                self.free.push(b);
            }
        }
    }

    /// A block for new positions, or None when the cache is full.
    fn alloc(&mut self) -> Option<u32> {
        let b = if let Some(b) = self.free.pop() {
            b
        } else if self.meta.len() < self.limit {
            if self.meta.len().is_multiple_of(SLAB) {
                let n = SLAB * self.layout.layer_len();
                for _ in 0..self.layout.layers {
                    match &mut self.slabs {
                        Slabs::F16(v) => v.push(vec![0u16; n].into_boxed_slice()),
                        Slabs::F32(v) => v.push(vec![0f32; n].into_boxed_slice()),
                    }
                }
            }
            self.meta.push(Meta::default());
            (self.meta.len() - 1) as u32
        } else {
            let (stamp, b) = self.evictable.pop_first()?;
            let m = &mut self.meta[b as usize];
            debug_assert_eq!(m.stamp, stamp);
            if let Some(k) = m.key.take() {
                self.index.remove(&k);
            }
            m.gen = m.gen.wrapping_add(1);
            b
        };
        self.meta[b as usize].refs = 1;
        Some(b)
    }

    /// Appends `ids` to sequence `id`, taking blocks as needed; returns each new position's
    /// (block, slot). Nothing changes when the cache has no room.
    pub fn append(&mut self, id: SeqId, ids: &[u32]) -> Option<Vec<(u32, usize)>> {
        let len = self.seq(id).tokens.len();
        let need = (len + ids.len()).div_ceil(BLOCK) - len.div_ceil(BLOCK);
        if need > self.available() {
            return None;
        }
        let mut fresh = Vec::with_capacity(need);
        for _ in 0..need {
            fresh.push(self.alloc()?);
        }
        let s = self.seq_mut(id);
        s.blocks.extend(fresh);
        s.tokens.extend_from_slice(ids);
        Some((len..len + ids.len()).map(|p| (s.blocks[p / BLOCK], p % BLOCK)).collect())
    }

    /// Takes the last `n` positions off sequence `id` (a step that failed).
    pub fn truncate(&mut self, id: SeqId, n: usize) {
        let s = self.seq_mut(id);
        let len = s.tokens.len().saturating_sub(n).max(s.indexed * BLOCK);
        s.tokens.truncate(len);
        let keep = len.div_ceil(BLOCK).max(s.indexed);
        let gone: Vec<u32> = s.blocks.drain(keep..).collect();
        for b in gone {
            self.release(b);
        }
    }

    /// Indexes the sequence's full blocks that are not yet indexed (after their keys and
    /// values were written).
    pub fn commit(&mut self, id: SeqId) {
        let s = self.seqs[id].as_mut().expect("a live sequence");
        let full = s.tokens.len() / BLOCK;
        for i in s.indexed..full {
            let parent =
                i.checked_sub(1).map(|p| (s.blocks[p], self.meta[s.blocks[p] as usize].gen));
            let tokens: [u32; BLOCK] =
                s.tokens[i * BLOCK..(i + 1) * BLOCK].try_into().expect("a full block");
            let key = Key { parent, tokens };
            let b = s.blocks[i];
            if !self.index.contains_key(&key) && self.meta[b as usize].key.is_none() {
                self.index.insert(key.clone(), b);
                self.meta[b as usize].key = Some(key);
            }
        }
        s.indexed = full;
    }

    /// A copy of sequence `id` that shares its full blocks (the partly filled last block is
    /// copied); None when the cache has no room for that copy.
    pub fn fork(&mut self, id: SeqId) -> Option<SeqId> {
        let src = self.seq(id).clone();
        let partial = !src.tokens.len().is_multiple_of(BLOCK);
        let copy = if partial { Some(self.alloc()?) } else { None };
        let shared = src.blocks.len() - usize::from(partial);
        for &b in &src.blocks[..shared] {
            self.retain(b);
        }
        let mut blocks = src.blocks[..shared].to_vec();
        if let (Some(dst), Some(&from)) = (copy, src.blocks.last()) {
            self.copy_block(from, dst);
            blocks.push(dst);
        }
        let new = self.new_seq();
        *self.seq_mut(new) = Seq { tokens: src.tokens, blocks, indexed: src.indexed.min(shared) };
        Some(new)
    }

    fn copy_block(&mut self, from: u32, to: u32) {
        let (n, layers) = (self.layout.layer_len(), self.layout.layers);
        let at = |b: u32, l: usize| ((b as usize / SLAB) * layers + l, b as usize % SLAB * n);
        for l in 0..layers {
            let ((fs, fo), (ts, to_)) = (at(from, l), at(to, l));
            match &mut self.slabs {
                Slabs::F16(v) => {
                    let tmp = v[fs][fo..fo + n].to_vec();
                    v[ts][to_..to_ + n].copy_from_slice(&tmp);
                }
                Slabs::F32(v) => {
                    let tmp = v[fs][fo..fo + n].to_vec();
                    v[ts][to_..to_ + n].copy_from_slice(&tmp);
                }
            }
        }
    }

    /// Ends sequence `id`; its indexed blocks stay for later prompts until their room is needed.
    pub fn free_seq(&mut self, id: SeqId) {
        let Some(s) = self.seqs[id].take() else { return };
        for b in s.blocks {
            self.release(b);
        }
    }

    /// The storage, for one forward pass.
    pub fn raw(&mut self, ptrs16: &mut Vec<*mut u16>, ptrs32: &mut Vec<*mut f32>) -> KvRaw {
        ptrs16.clear();
        ptrs32.clear();
        match &mut self.slabs {
            Slabs::F16(v) => ptrs16.extend(v.iter_mut().map(|s| s.as_mut_ptr())),
            Slabs::F32(v) => ptrs32.extend(v.iter_mut().map(|s| s.as_mut_ptr())),
        }
        KvRaw { ty: self.ty, f16: ptrs16.as_ptr(), f32: ptrs32.as_ptr(), layout: self.layout }
    }
}
