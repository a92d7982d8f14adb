//! The cache's storage as one forward pass sees it: raw slab pointers that parallel units write
//! (each position once) and read (what earlier units wrote).

use super::{KvType, Layout, BLOCK, SLAB};
use crate::llm::engine::kernels::Kernels;
use crate::llm::engine::vmath;

/// The cache's storage for the forward pass: writes from parallel units (each position once),
/// reads of what earlier units wrote.
#[derive(Clone, Copy)]
pub struct KvRaw {
    pub(super) ty: KvType,
    pub(super) f16: *const *mut u16,
    pub(super) f32: *const *mut f32,
    pub(super) layout: Layout,
}

// SAFETY: units write disjoint positions, and a layer's reads start after its writes ended.
unsafe impl Send for KvRaw {}
unsafe impl Sync for KvRaw {}

impl KvRaw {
    fn at(&self, block: u32, layer: usize, kind: usize, head: usize) -> (usize, usize) {
        let b = block as usize;
        (
            (b / SLAB) * self.layout.layers + layer,
            b % SLAB * self.layout.layer_len() + self.layout.offset(kind, head),
        )
    }

    /// Asks the CPU to fetch the start of a block's keys and values of one layer and head.
    pub fn prefetch(&self, block: u32, layer: usize, head: usize) {
        #[cfg(target_arch = "x86_64")]
        for kind in 0..2 {
            let (s, o) = self.at(block, layer, kind, head);
            let bytes = if self.ty == KvType::F32 { 4 } else { 2 };
            // SAFETY: only an address is computed (within the slab) and handed to a prefetch hint.
            unsafe {
                let base = if self.ty == KvType::F32 {
                    (*self.f32.add(s)).add(o) as *const i8
                } else {
                    (*self.f16.add(s)).add(o) as *const i8
                };
                for line in (0..BLOCK * self.layout.dim * bytes).step_by(64) {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(
                        base.add(line),
                    );
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (block, layer, head);
    }

    /// Writes `v` at dimension `at` of one position's key (kind 0) or value (kind 1).
    ///
    /// # Safety
    /// The block was allocated before this forward pass, and no other unit writes these values.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn write(
        &self,
        k: Kernels,
        block: u32,
        slot: usize,
        layer: usize,
        kind: usize,
        head: usize,
        at: usize,
        v: &[f32],
    ) {
        let (s, o) = self.at(block, layer, kind, head);
        let o = o + slot * self.layout.dim + at;
        if self.ty == KvType::F32 {
            std::slice::from_raw_parts_mut((*self.f32.add(s)).add(o), v.len()).copy_from_slice(v);
        } else {
            vmath::to_f16(k, v, std::slice::from_raw_parts_mut((*self.f16.add(s)).add(o), v.len()));
        }
    }

    /// Reads the first `n` positions of a block's keys (kind 0) or values (kind 1) of one head
    /// and layer into `out` as f32.
    ///
    /// # Safety
    /// The positions read were written before (in this pass's earlier phase, or an earlier pass).
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn read(
        &self,
        k: Kernels,
        block: u32,
        layer: usize,
        kind: usize,
        head: usize,
        n: usize,
        out: &mut [f32],
    ) {
        let (s, o) = self.at(block, layer, kind, head);
        let n = n.min(BLOCK) * self.layout.dim;
        if self.ty == KvType::F32 {
            out[..n].copy_from_slice(std::slice::from_raw_parts((*self.f32.add(s)).add(o), n));
        } else {
            vmath::from_f16(
                k,
                std::slice::from_raw_parts((*self.f16.add(s)).add(o), n),
                &mut out[..n],
            );
        }
    }
}
