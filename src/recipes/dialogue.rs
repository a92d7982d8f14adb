//! Multi-turn dialogues: self-chat (Baize), where the teacher writes a whole conversation between
//! a human and an assistant about a topic, and role-play (CAMEL), where two instances of the
//! teacher, each with its own role, take turns: the user role gives one instruction at a time and
//! the assistant role answers it.

use super::each::{bad_answer, Made, Source};
use crate::llm::{GenParams, Generator, LlmError};
use crate::sample::{Message, Role, SampleText};
use serde_json::json;

/// The topic a seed or sample gives.
pub fn topic(t: &SampleText) -> String {
    if t.input.trim().is_empty() {
        t.instruction.trim().to_owned()
    } else {
        format!("{} {}", t.instruction.trim(), t.input.trim())
    }
}

/// Parses a `[Human] … [AI] …` transcript into turns (also accepts `Human:` / `AI:` /
/// `Assistant:`). The text starts inside the first human turn (the prompt opened it).
pub fn parse_transcript(text: &str) -> Result<Vec<Message>, String> {
    let mut turns: Vec<Message> = vec![Message { role: Role::User, content: String::new() }];
    for line in text.lines() {
        let l = line.trim();
        let tag = [
            ("[Human]", Role::User),
            ("Human:", Role::User),
            ("[AI]", Role::Assistant),
            ("AI:", Role::Assistant),
            ("Assistant:", Role::Assistant),
        ]
        .into_iter()
        .find(|(t, _)| l.starts_with(t));
        match tag {
            Some((t, role)) => {
                turns.push(Message { role, content: l[t.len()..].trim().to_owned() })
            }
            None => {
                let last = turns.last_mut().expect("never empty");
                if !last.content.is_empty() {
                    last.content.push('\n');
                }
                last.content.push_str(l);
            }
        }
    }
    turns.iter_mut().for_each(|m| m.content = m.content.trim().to_owned());
    turns.retain(|m| !m.content.is_empty());
    // Merge consecutive turns of one speaker, then end on an assistant turn.
    let mut merged: Vec<Message> = Vec::new();
    for m in turns {
        match merged.last_mut() {
            Some(prev) if prev.role == m.role => {
                prev.content.push('\n');
                prev.content.push_str(&m.content);
            }
            _ => merged.push(m),
        }
    }
    if merged.first().is_some_and(|m| m.role == Role::Assistant) {
        merged.remove(0);
    }
    if merged.last().is_some_and(|m| m.role == Role::User) {
        merged.pop();
    }
    let exchanges = merged.len() / 2;
    if exchanges < 2 {
        return Err(format!("{exchanges} exchange(s); a dialogue needs at least 2"));
    }
    Ok(merged)
}

/// A conversation as a sample: the last exchange is instruction → output, the rest is history.
pub fn to_sample(mut turns: Vec<Message>) -> SampleText {
    let output = turns.pop().map(|m| m.content).unwrap_or_default();
    let instruction = turns.pop().map(|m| m.content).unwrap_or_default();
    SampleText { history: turns, instruction, output, ..SampleText::default() }
}

/// Exchanges a self-chat dialogue has.
pub const SELF_CHAT_EXCHANGES: usize = 2;

/// One self-chat attempt: the teacher continues one transcript, playing both sides turn by turn
/// (`[AI]:` then `[Human]:`), so even a small model keeps the format.
pub fn self_chat(
    template: &str,
    model: &mut dyn Generator,
    src: &Source,
    p: &GenParams,
) -> Result<(Made, usize), LlmError> {
    let subject = topic(&src.text);
    let mut transcript = template.replace("{topic}", &subject).trim_end().to_owned();
    let mut tokens = 0;
    for turn in 0..SELF_CHAT_EXCHANGES * 2 - 1 {
        let (tag, other) = if turn % 2 == 0 { ("[AI]:", "[Human]") } else { ("[Human]:", "[AI]") };
        transcript.push_str(&format!("\n{tag} "));
        let params = GenParams {
            seed: p.seed.wrapping_add(turn as u64),
            stop: vec![other.into(), "\n\n\n".into()],
            ..p.clone()
        };
        let out = model.complete(&transcript, &params, 1)?.remove(0);
        tokens += out.completion_tokens;
        let said = out.text.trim().replace('\n', " ");
        if said.is_empty() {
            return Ok((
                Made::Drop { reason: format!("turn {}: empty", turn + 2), raw: transcript },
                tokens,
            ));
        }
        transcript.push_str(&said);
    }
    let body = transcript.split_once("[Human]:").map_or("", |(_, b)| b).to_owned();
    let made = match parse_transcript(&body.replace("[AI]:", "[AI]").replace("[Human]:", "[Human]"))
    {
        Err(why) => Made::Drop { reason: why, raw: transcript },
        Ok(turns) => match turns.iter().find_map(|m| bad_answer(&m.content)) {
            Some(why) => Made::Drop { reason: format!("a turn is bad: {why}"), raw: transcript },
            None => Made::Keep {
                extra: json!({"topic": subject, "turns": turns.len()}),
                text: to_sample(turns),
            },
        },
    };
    Ok((made, tokens))
}

/// The two system prompts of a role-play template (`=== user ===` / `=== assistant ===`).
pub fn role_prompts(
    template: &str,
    task: &str,
    user_role: &str,
    assistant_role: &str,
) -> Result<(String, String), String> {
    let fill = |s: &str| {
        s.replace("{task}", task)
            .replace("{user_role}", user_role)
            .replace("{assistant_role}", assistant_role)
            .trim()
            .to_owned()
    };
    let (_, rest) = template
        .split_once("=== user ===")
        .ok_or("the role-play template has no `=== user ===` section")?;
    let (user, assistant) = rest
        .split_once("=== assistant ===")
        .ok_or("the role-play template has no `=== assistant ===` section")?;
    Ok((fill(user), fill(assistant)))
}

/// Marks the end of a role-play task.
pub const TASK_DONE: &str = "<TASK_DONE>";

/// One role-play attempt: `rounds` instruction/answer pairs at most.
pub fn role_play(
    template: &str,
    roles: (&str, &str),
    rounds: usize,
    model: &mut dyn Generator,
    src: &Source,
    p: &GenParams,
) -> Result<(Made, usize), LlmError> {
    let task = topic(&src.text);
    let (user_sys, asst_sys) = match role_prompts(template, &task, roles.0, roles.1) {
        Ok(s) => s,
        Err(e) => return Err(LlmError::Run(e)),
    };
    let mut turns: Vec<Message> = Vec::new();
    let mut tokens = 0;
    for round in 0..rounds.max(1) {
        // The user role sees its own turns as its answers, and the assistant's as what it is told.
        let mut as_user = vec![
            Message { role: Role::System, content: user_sys.clone() },
            Message { role: Role::User, content: "Give your first instruction.".into() },
        ];
        for t in &turns {
            let role = if t.role == Role::User { Role::Assistant } else { Role::User };
            as_user.push(Message { role, content: t.content.clone() });
        }
        let params = GenParams {
            seed: p.seed.wrapping_add(2 * round as u64),
            max_tokens: p.max_tokens.min(96),
            ..p.clone()
        };
        let ins = model.generate(&as_user, &params, 1)?.remove(0);
        tokens += ins.completion_tokens;
        let instruction = ins.text.trim().to_owned();
        if instruction.contains(TASK_DONE) {
            break;
        }
        if let Some(why) = bad_answer(&instruction) {
            return Ok((
                Made::Drop {
                    reason: format!("round {}: the user role's turn: {why}", round + 1),
                    raw: instruction,
                },
                tokens,
            ));
        }
        if turns.iter().any(|t| t.content == instruction) {
            return Ok((
                Made::Drop {
                    reason: format!("round {}: the user role repeated itself", round + 1),
                    raw: instruction,
                },
                tokens,
            ));
        }
        turns.push(Message { role: Role::User, content: instruction });
        let mut as_asst = vec![Message { role: Role::System, content: asst_sys.clone() }];
        as_asst.extend(turns.iter().cloned());
        let ans = model
            .generate(
                &as_asst,
                &GenParams { seed: p.seed.wrapping_add(2 * round as u64 + 1), ..p.clone() },
                1,
            )?
            .remove(0);
        tokens += ans.completion_tokens;
        if let Some(why) = bad_answer(&ans.text) {
            return Ok((
                Made::Drop {
                    reason: format!("round {}: the assistant role's answer: {why}", round + 1),
                    raw: ans.text,
                },
                tokens,
            ));
        }
        turns.push(Message { role: Role::Assistant, content: ans.text.trim().to_owned() });
    }
    if turns.len() < 4 {
        return Ok((
            Made::Drop {
                reason: format!("{} exchange(s); a dialogue needs at least 2", turns.len() / 2),
                raw: format!("{turns:?}"),
            },
            tokens,
        ));
    }
    let extra = json!({"task": task, "user_role": roles.0, "assistant_role": roles.1, "turns": turns.len()});
    Ok((Made::Keep { text: to_sample(turns), extra }, tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_parse_into_turns_and_end_on_the_assistant() {
        let t = " How do tides work?\n[AI] The moon pulls the oceans.\n[Human] Why two a day?\nIt puzzles me.\n[AI] The far side bulges too.\n[Human] Thanks";
        let turns = parse_transcript(t).unwrap();
        assert_eq!(turns.len(), 4);
        assert_eq!(turns[2].content, "Why two a day?\nIt puzzles me.");
        let s = to_sample(turns);
        assert_eq!(
            (s.history.len(), s.instruction.as_str(), s.output.as_str()),
            (2, "Why two a day?\nIt puzzles me.", "The far side bulges too.")
        );
    }

    #[test]
    fn malformed_transcripts_say_why() {
        assert!(parse_transcript("just some text with no turns")
            .unwrap_err()
            .contains("0 exchange"));
        assert!(parse_transcript(" Hi\n[AI] Hello!").unwrap_err().contains("1 exchange"));
        assert!(parse_transcript("").is_err());
    }

    #[test]
    fn role_templates_need_both_sections() {
        let (u, a) = role_prompts("=== user ===\nYou are {user_role}; task {task}\n=== assistant ===\nYou are {assistant_role}.", "T", "a chef", "a cook").unwrap();
        assert_eq!((u.as_str(), a.as_str()), ("You are a chef; task T", "You are a cook."));
        assert!(role_prompts("no sections", "T", "a", "b").unwrap_err().contains("user"));
    }
}
