//! Distillery: a terminal workbench for human-in-the-loop curation of LLM training data.
//!
//! Core modules (`store`, `formats`, `sample`, `text`, `workspace`) know nothing of the terminal;
//! `tui` and `cli` sit on top of them.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod cli;
pub mod formats;
pub mod fsio;
pub mod judge;
pub mod llm;
pub mod recipes;
pub mod sample;
pub mod store;
pub mod text;
pub mod train;
pub mod tui;
pub mod work;
pub mod workspace;
