//! Weight matrices in the one layout every kernel reads: the file's own Q8_0 or Q4_1 blocks
//! repacked once into tiles of 16 rows (Q4_0 as Q4_1 with the minimum −8·scale, exactly), or
//! dense f32 for float files (F32, F16, BF16). Other block types (the K-quants, Q5_x) are
//! dequantized and re-quantized to Q8_0 at load.
//!
//! Layout: for each tile of 16 rows and each 32-wide block of the inputs there are 64-byte
//! chunks, each holding 4 bytes of each of the 16 rows, and 16 f16 scales (and, for Q4_1, 16
//! f16 minimums).
//! - Q8_0: 8 chunks; chunk `g` holds inputs `4g..4g+4` of each row as signed bytes.
//! - Q4_1: 4 chunks, the file's bytes as they are: chunk `c` holds inputs `4c..4c+4` in the low
//!   nibbles and `16+4c..16+4c+4` in the high ones.
//!
//! A 32-byte half of a chunk is 8 rows (AVX2), a 16-byte quarter 4 rows (NEON), the whole chunk
//! 16 rows (AVX-512). Rows past the matrix's end are zero.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;
use half::f16;

/// Rows per tile.
pub const TILE: usize = 16;
/// Inputs per quantization block.
pub const QK: usize = 32;

/// 64 bytes, aligned for one 512-bit load.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Chunk(pub [u8; 64]);

/// The packed block formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Q8_0,
    Q4_1,
}

impl Format {
    /// 64-byte chunks per tile and block.
    pub fn chunks(self) -> usize {
        match self {
            Format::Q8_0 => 8,
            Format::Q4_1 => 4,
        }
    }
}

/// A matrix `[n, k]` (outputs × inputs) in the tiled layout.
pub struct Packed {
    pub format: Format,
    /// Rows (outputs), before padding to whole tiles.
    pub n: usize,
    pub k: usize,
    pub qs: Vec<Chunk>,
    pub d: Vec<f16>,
    /// Q4_1's minimums (empty for Q8_0).
    pub m: Vec<f16>,
}

/// A float matrix `[n, k]`, row-major.
pub struct Dense {
    pub n: usize,
    pub k: usize,
    pub w: Vec<f32>,
}

/// A weight matrix as the kernels read it.
pub enum Matrix {
    Packed(Packed),
    Dense(Dense),
}

/// What became of a file's tensor at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// Its blocks as they are (Q8_0, Q4_1, Q4_0) or its floats.
    AsIs,
    /// Re-quantized to Q8_0 (a block type the kernels do not read).
    Requantized,
}

impl Packed {
    pub fn tiles(&self) -> usize {
        self.n.div_ceil(TILE)
    }

    pub fn blocks(&self) -> usize {
        self.k / QK
    }

    /// Packs `n` rows of blocks: `block(r, b)` gives row `r`'s block `b` as (scale, minimum,
    /// quants), the quants 32 bytes for Q8_0 (signed) or 16 for Q4_1 (nibbles as in the file).
    fn pack<'a>(
        format: Format,
        n: usize,
        k: usize,
        block: impl Fn(usize, usize) -> (f16, f16, &'a [u8]),
    ) -> Packed {
        let (kb, per, tiles) = (k / QK, format.chunks(), n.div_ceil(TILE));
        let mut qs = vec![Chunk([0; 64]); tiles * kb * per];
        let mut d = vec![f16::ZERO; tiles * kb * TILE];
        let mut m = vec![f16::ZERO; if format == Format::Q4_1 { tiles * kb * TILE } else { 0 }];
        for r in 0..n {
            let (t, lane) = (r / TILE, r % TILE);
            for b in 0..kb {
                let base = t * kb + b;
                let (scale, min, q) = block(r, b);
                d[base * TILE + lane] = scale;
                if format == Format::Q4_1 {
                    m[base * TILE + lane] = min;
                }
                for c in 0..per {
                    qs[base * per + c].0[lane * 4..lane * 4 + 4]
                        .copy_from_slice(&q[4 * c..4 * c + 4]);
                }
            }
        }
        Packed { format, n, k, qs, d, m }
    }

    /// The quantized weight `j` (0..32) of block `base` for tile row `lane`.
    pub fn q(&self, base: usize, lane: usize, j: usize) -> i32 {
        match self.format {
            Format::Q8_0 => self.qs[base * 8 + j / 4].0[lane * 4 + j % 4] as i8 as i32,
            Format::Q4_1 => {
                let byte = self.qs[base * 4 + (j % 16) / 4].0[lane * 4 + j % 4];
                (if j < 16 { byte & 15 } else { byte >> 4 }) as i32
            }
        }
    }

    /// The minimum of block `base`, tile row `lane` (0 for Q8_0).
    pub fn min(&self, base: usize, lane: usize) -> f32 {
        self.m.get(base * TILE + lane).map_or(0.0, |m| m.to_f32())
    }

    /// Row `r` as f32.
    pub fn row(&self, r: usize, out: &mut [f32]) {
        let kb = self.blocks();
        let (t, lane) = (r / TILE, r % TILE);
        for b in 0..kb {
            let base = t * kb + b;
            let (s, min) = (self.d[base * TILE + lane].to_f32(), self.min(base, lane));
            for (j, o) in out[b * QK..(b + 1) * QK].iter_mut().enumerate() {
                *o = s * self.q(base, lane, j) as f32 + min;
            }
        }
    }
}

/// ggml's Q8_0 quantization of one 32-block: the scale `amax / 127` (stored as f16) and the
/// quants rounded from `x / scale`.
fn q8_0_block(x: &[f32]) -> (f16, [u8; QK]) {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    let mut q = [0u8; QK];
    for (o, v) in q.iter_mut().zip(x) {
        *o = (v * id).round() as i8 as u8;
    }
    (f16::from_f32(d), q)
}

impl Matrix {
    /// The matrix for a file's 2-D tensor, and whether it was re-quantized.
    pub fn from_qtensor(t: &QTensor) -> candle_core::Result<(Matrix, Loaded)> {
        let (n, k) = t.shape().dims2()?;
        let bad = |len: usize| {
            candle_core::Error::Msg(format!(
                "{:?} data of {len} bytes for a {n}×{k} matrix",
                t.dtype()
            ))
        };
        let kb = k / QK;
        match t.dtype() {
            GgmlDType::Q8_0 | GgmlDType::Q4_1 | GgmlDType::Q4_0 if k % QK == 0 => {
                let data = t.data()?;
                let size = match t.dtype() {
                    GgmlDType::Q8_0 => 34,
                    GgmlDType::Q4_1 => 20,
                    _ => 18,
                };
                if data.len() != n * kb * size {
                    return Err(bad(data.len()));
                }
                let at = |r: usize, b: usize| &data[(r * kb + b) * size..][..size];
                let h = |x: &[u8]| f16::from_le_bytes([x[0], x[1]]);
                let p = match t.dtype() {
                    GgmlDType::Q8_0 => Packed::pack(Format::Q8_0, n, k, |r, b| {
                        (h(at(r, b)), f16::ZERO, &at(r, b)[2..])
                    }),
                    GgmlDType::Q4_1 => Packed::pack(Format::Q4_1, n, k, |r, b| {
                        (h(at(r, b)), h(&at(r, b)[2..]), &at(r, b)[4..])
                    }),
                    // Q4_0 is d·(q − 8) = d·q + (−8·d): Q4_1 with that minimum (exact in f16).
                    _ => Packed::pack(Format::Q4_1, n, k, |r, b| {
                        let d = h(at(r, b));
                        (d, f16::from_f32(-8.0 * d.to_f32()), &at(r, b)[2..])
                    }),
                };
                Ok((Matrix::Packed(p), Loaded::AsIs))
            }
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => {
                let w = t.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
                Ok((Matrix::Dense(Dense { n, k, w }), Loaded::AsIs))
            }
            _ if k % QK == 0 => {
                let w = t.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
                Ok((Matrix::Packed(Self::quantize_q8_0(&w, n, k)), Loaded::Requantized))
            }
            _ => {
                let w = t.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
                Ok((Matrix::Dense(Dense { n, k, w }), Loaded::Requantized))
            }
        }
    }

    /// `w` (`n × k`, row-major) quantized to Q8_0 and packed.
    pub fn quantize_q8_0(w: &[f32], n: usize, k: usize) -> Packed {
        let blocks: Vec<(f16, [u8; QK])> = w.chunks_exact(QK).map(q8_0_block).collect();
        let kb = k / QK;
        Packed::pack(Format::Q8_0, n, k, |r, b| {
            let (d, q) = &blocks[r * kb + b];
            (*d, f16::ZERO, &q[..])
        })
    }

    /// (outputs, inputs).
    pub fn dims(&self) -> (usize, usize) {
        match self {
            Matrix::Packed(p) => (p.n, p.k),
            Matrix::Dense(d) => (d.n, d.k),
        }
    }

    /// Row `r` as f32 (embedding lookups).
    pub fn row(&self, r: usize, out: &mut [f32]) {
        match self {
            Matrix::Packed(p) => p.row(r, out),
            Matrix::Dense(d) => out.copy_from_slice(&d.w[r * d.k..(r + 1) * d.k]),
        }
    }

    /// Bytes a product reads (the memory one decoding step streams for this matrix).
    pub fn bytes(&self) -> usize {
        match self {
            Matrix::Packed(p) => p.qs.len() * 64 + (p.d.len() + p.m.len()) * 2,
            Matrix::Dense(d) => d.w.len() * 4,
        }
    }

    /// The format's name, for the load report.
    pub fn kind(&self) -> &'static str {
        match self {
            Matrix::Packed(p) if p.format == Format::Q8_0 => "Q8_0",
            Matrix::Packed(_) => "Q4_1",
            Matrix::Dense(_) => "f32",
        }
    }
}
