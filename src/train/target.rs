//! What LoRA adapts: the projections by name (as GGUF, Hugging Face and PEFT spell them), and an
//! adapter's rank, scale and dropout.

/// A projection LoRA can adapt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Target {
    pub const ALL: [Target; 7] =
        [Target::Q, Target::K, Target::V, Target::O, Target::Gate, Target::Up, Target::Down];

    /// The tensor's name in a GGUF block (`blk.N.<name>.weight`).
    pub fn gguf(self) -> &'static str {
        match self {
            Target::Q => "attn_q",
            Target::K => "attn_k",
            Target::V => "attn_v",
            Target::O => "attn_output",
            Target::Gate => "ffn_gate",
            Target::Up => "ffn_up",
            Target::Down => "ffn_down",
        }
    }

    /// The module's name in a Hugging Face llama (`model.layers.N.<name>`), as PEFT names it.
    pub fn hf(self) -> &'static str {
        match self {
            Target::Q => "self_attn.q_proj",
            Target::K => "self_attn.k_proj",
            Target::V => "self_attn.v_proj",
            Target::O => "self_attn.o_proj",
            Target::Gate => "mlp.gate_proj",
            Target::Up => "mlp.up_proj",
            Target::Down => "mlp.down_proj",
        }
    }

    /// The module's PEFT name in layer `layer`: `base_model.model.model.layers.N.<hf name>`
    /// (its adapters are `<that>.lora_A.weight` and `.lora_B.weight`).
    pub fn peft(self, layer: impl std::fmt::Display) -> String {
        format!("base_model.model.model.layers.{layer}.{}", self.hf())
    }

    /// `q`, `k`, … `down`, as the config and the command line name them.
    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| {
            t.hf().ends_with(&format!("{}_proj", s.trim()))
                || format!("{t:?}").eq_ignore_ascii_case(s.trim())
        })
    }
}

/// A GGUF block tensor's name, `blk.N.<module>.weight`, as (N, module).
pub fn gguf_block(name: &str) -> Option<(&str, &str)> {
    name.strip_prefix("blk.")?
        .split_once('.')
        .and_then(|(layer, rest)| Some((layer, rest.strip_suffix(".weight")?)))
}

/// The adapters to train.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    /// On the adapter's input only, as PEFT does.
    pub dropout: f32,
    pub targets: Vec<Target>,
    /// Seeds `A`'s initialisation (and nothing else).
    pub seed: u64,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: 8,
            alpha: 16.0,
            dropout: 0.05,
            targets: vec![Target::Q, Target::V],
            seed: 1,
        }
    }
}
