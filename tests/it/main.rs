//! The integration tests, one crate (one link of the heavy dependencies) with a module per
//! area. `cargo test --test it MODULE::` runs one area.

mod app_update;
mod architecture;
mod cli;
mod cli_edges;
#[allow(dead_code)]
mod common;
mod crash;
mod curators;
mod embed_real;
mod endpoint_cli;
mod event_loop;
mod exports;
mod formats;
mod fused;
mod grammar;
mod imports;
mod jobs;
mod judge;
mod judge_context;
mod llamacpp_peer;
mod llm_engine;
mod llm_kernels;
mod llm_real;
mod llm_tiny;
mod near_dup;
mod openai;
mod openai_server;
mod openai_strict;
mod questions;
mod recipes;
mod recipes_more;
mod recipes_refine;
mod rejection;
mod rounds;
mod screens;
mod screens_student;
mod store;
mod student;
mod templates;
mod train;
mod train_cli;
