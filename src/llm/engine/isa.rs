//! The instruction sets the engine's kernels are written for, which of them this CPU runs, and
//! the choice made at load (`auto`, or one forced with `--isa` or `DISTILLERY_ISA`).

use std::fmt;

/// A family of kernels: the packed matrix products, the activation quantizer and the vector
/// maths of attention and sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable Rust, correct on every CPU (the reference the others are tested against).
    Scalar,
    /// x86-64 with AVX2, FMA and F16C (Haswell and later, Zen 1–5): `vpmaddubsw` then
    /// `vpmaddwd`, as llama.cpp's AVX2 dot products.
    Avx2,
    /// x86-64 with AVX-512 F, BW, VL and VNNI (Ice Lake and later servers, Zen 4–5): `vpdpbusd`.
    Avx512,
    /// aarch64 with the dot-product extension (Apple M1 and later, Graviton 2 and later):
    /// `sdot`.
    Neon,
}

/// Every kernel family, in the order `auto` prefers them.
pub const ALL: [Isa; 4] = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Scalar];

impl Isa {
    /// The name `--isa` takes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// What the kernels use, for logs and benchmarks.
    pub fn describe(self) -> &'static str {
        match self {
            Isa::Scalar => "portable scalar",
            Isa::Avx2 => "AVX2 + FMA + F16C (vpmaddubsw)",
            Isa::Avx512 => "AVX-512 VNNI (vpdpbusd)",
            Isa::Neon => "NEON dot product (sdot)",
        }
    }

    /// Whether this CPU runs the family; `Err` says which features it lacks.
    pub fn check(self) -> Result<(), String> {
        let missing = self.missing();
        if missing.is_empty() {
            return Ok(());
        }
        Err(format!(
            "--isa {}: this CPU cannot run it: it lacks {} (it can run: {})",
            self.name(),
            missing.join(", "),
            supported().iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
        ))
    }

    /// The CPU features the family needs and this CPU lacks.
    fn missing(self) -> Vec<&'static str> {
        let mut out = Vec::new();
        match self {
            Isa::Scalar => {}
            Isa::Avx2 | Isa::Avx512 => {
                #[cfg(target_arch = "x86_64")]
                {
                    let need: &[(&str, bool)] = &[
                        ("avx2", is_x86_feature_detected!("avx2")),
                        ("fma", is_x86_feature_detected!("fma")),
                        ("f16c", is_x86_feature_detected!("f16c")),
                    ];
                    out.extend(need.iter().filter(|(_, has)| !has).map(|(n, _)| *n));
                    if self == Isa::Avx512 {
                        let wide: &[(&str, bool)] = &[
                            ("avx512f", is_x86_feature_detected!("avx512f")),
                            ("avx512bw", is_x86_feature_detected!("avx512bw")),
                            ("avx512vl", is_x86_feature_detected!("avx512vl")),
                            ("avx512vnni", is_x86_feature_detected!("avx512vnni")),
                        ];
                        out.extend(wide.iter().filter(|(_, has)| !has).map(|(n, _)| *n));
                    }
                }
                #[cfg(not(target_arch = "x86_64"))]
                out.push("an x86-64 CPU");
            }
            Isa::Neon => {
                #[cfg(target_arch = "aarch64")]
                if !std::arch::is_aarch64_feature_detected!("dotprod") {
                    out.push("dotprod");
                }
                #[cfg(not(target_arch = "aarch64"))]
                out.push("an aarch64 CPU");
            }
        }
        out
    }

    /// The fastest family this CPU runs.
    pub fn best() -> Isa {
        ALL.into_iter().find(|i| i.missing().is_empty()).unwrap_or(Isa::Scalar)
    }

    /// `auto` (None) or a family's name.
    pub fn parse(s: &str) -> Result<Option<Isa>, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(None),
            name => ALL.into_iter().find(|i| i.name() == name).map(Some).ok_or_else(|| {
                format!(
                    "unknown instruction set {name:?}: expected auto, avx512, avx2, neon or scalar"
                )
            }),
        }
    }

    /// The family to load with: `choice` when given (refused with the reason when this CPU cannot
    /// run it), else `DISTILLERY_ISA` when set, else the best one.
    pub fn select(choice: Option<Isa>) -> Result<Isa, String> {
        let chosen = match choice {
            Some(i) => Some(i),
            None => match std::env::var("DISTILLERY_ISA") {
                Ok(v) => Isa::parse(&v).map_err(|e| format!("DISTILLERY_ISA: {e}"))?,
                Err(_) => None,
            },
        };
        match chosen {
            Some(i) => i.check().map(|()| i),
            None => Ok(Isa::best()),
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The families this CPU runs, fastest first.
pub fn supported() -> Vec<Isa> {
    ALL.into_iter().filter(|i| i.missing().is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_scalar_always_runs() {
        for i in ALL {
            assert_eq!(Isa::parse(i.name()), Ok(Some(i)));
        }
        assert_eq!(Isa::parse("AUTO"), Ok(None));
        assert!(Isa::parse("sse9").unwrap_err().contains("expected auto"));
        assert!(Isa::Scalar.check().is_ok());
        assert!(supported().contains(&Isa::best()));
        #[cfg(target_arch = "x86_64")]
        assert!(Isa::Neon.check().unwrap_err().contains("aarch64"));
    }
}
