//! `distillery stats`: counts by status, origin and recipe, decision rate, edit rate.

use crate::workspace::Workspace;

pub(super) fn run(ws: &Workspace, json: bool) -> anyhow::Result<()> {
    let st = ws.store()?.stats()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(());
    }
    let c = &st.by_status;
    // The name and every name below come from files: cleaned before they reach the terminal.
    let clean = crate::text::clean_line;
    println!(
        "workspace   {} ({})",
        clean(&ws.display_name()),
        clean(&ws.dir.display().to_string())
    );
    println!(
        "samples     {}  (pending {} · accepted {} · edited {} · rejected {})",
        st.samples, c.pending, c.accepted, c.edited, c.rejected
    );
    println!("seeds       {}   eval items {}", st.seeds, st.eval_items);
    let origins: Vec<String> =
        st.by_origin.iter().map(|(o, n)| format!("{} {n}", clean(o))).collect();
    println!("origin      {}", if origins.is_empty() { "-".into() } else { origins.join(" · ") });
    for (i, (recipe, r)) in st.by_recipe.iter().enumerate() {
        let label = if i == 0 { "recipe" } else { "" };
        let rate = if r.samples > 0 { 100.0 * r.kept as f64 / r.samples as f64 } else { 0.0 };
        let edited = if r.kept > 0 { 100.0 * r.edited as f64 / r.kept as f64 } else { 0.0 };
        let recipe = clean(recipe);
        println!("{label:<11} {recipe}: {} samples, {} kept ({rate:.0}%, {edited:.0}% of them edited), {} rejected", r.samples, r.kept, r.rejected);
    }
    let median = st
        .median_seconds_per_decision
        .map(|s| format!("; median {s:.1} s per decision"))
        .unwrap_or_default();
    println!(
        "decisions   {} in force, {} undone; {:.1} per hour{median}",
        st.decisions, st.undos, st.mean_decisions_per_hour
    );
    println!("edit rate   {:.1}% of decided samples", 100.0 * st.edit_rate);
    for (i, (hour, n)) in st.decisions_per_hour.iter().rev().enumerate() {
        let label = if i == 0 { "per hour" } else { "" };
        println!("{label:<11} {hour} UTC  {n}");
    }
    for line in crate::store::curator_report(&st.curators, &st.curator_agreement) {
        println!("{line}");
    }
    for line in st.judge.report() {
        println!("{line}");
    }
    Ok(())
}
