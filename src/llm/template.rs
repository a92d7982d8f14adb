//! Chat prompts: the model's own `tokenizer.chat_template` rendered with minijinja, or ChatML
//! when the file has none. As Hugging Face's renderer does, templates get Python's string and
//! dict methods (`.strip()`, `.startswith()`, `.split()`, `.items()`, …, minijinja-contrib's
//! pycompat), `raise_exception` and `strftime_now` (Llama 3's date line).

use crate::sample::{Message, Role};
use minijinja::{context, Environment, Error, ErrorKind};

fn role(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// How to turn messages into the prompt text.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatTemplate {
    /// A Jinja template from the model file.
    Jinja { source: String, bos: String, eos: String },
    /// `<|im_start|>role\ncontent<|im_end|>\n` …, used only when the file has no template.
    ChatMl,
}

impl ChatTemplate {
    /// Renders the conversation, ending with the assistant's turn opened.
    pub fn render(&self, messages: &[Message]) -> Result<String, String> {
        self.render_with(messages, true)
    }

    /// Renders the conversation; `open`: end with the assistant's turn opened (a prompt), or not
    /// (a whole conversation, as training sees it).
    pub fn render_with(&self, messages: &[Message], open: bool) -> Result<String, String> {
        match self {
            ChatTemplate::ChatMl => {
                let mut s = String::new();
                for m in messages {
                    s.push_str(&format!("<|im_start|>{}\n{}<|im_end|>\n", role(m.role), m.content));
                }
                if open {
                    s.push_str("<|im_start|>assistant\n");
                }
                Ok(s)
            }
            ChatTemplate::Jinja { source, bos, eos } => {
                let mut env = Environment::new();
                env.set_trim_blocks(true);
                env.set_lstrip_blocks(true);
                env.add_function("raise_exception", |msg: String| -> Result<String, Error> {
                    Err(Error::new(ErrorKind::InvalidOperation, msg))
                });
                env.add_function("strftime_now", |fmt: String| strftime(&fmt, unix_now()));
                env.set_unknown_method_callback(
                    minijinja_contrib::pycompat::unknown_method_callback,
                );
                env.add_template("chat", source)
                    .map_err(|e| format!("the chat template does not parse: {e}"))?;
                let msgs: Vec<_> = messages
                    .iter()
                    .map(|m| context! { role => role(m.role), content => m.content })
                    .collect();
                env.get_template("chat")
                    .and_then(|t| t.render(context! { messages => msgs, add_generation_prompt => open, bos_token => bos, eos_token => eos }))
                    .map_err(|e| format!("the chat template failed: {e}"))
            }
        }
    }
}

fn unix_now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// C's `strftime` for the specifiers chat templates use (`%d %b %Y`, `%B`, `%A`, …), in UTC.
pub fn strftime(fmt: &str, unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] =
        ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // The civil date of a day count (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let month = MONTHS[(m - 1) as usize];
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('e') => out.push_str(&format!("{d:2}")),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('Y') => out.push_str(&y.to_string()),
            Some('y') => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            Some('b') => out.push_str(&month[..3]),
            Some('B') => out.push_str(month),
            Some('a') => out.push_str(&weekday[..3]),
            Some('A') => out.push_str(weekday),
            Some('H') => out.push_str(&format!("{:02}", secs / 3600)),
            Some('M') => out.push_str(&format!("{:02}", secs / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", secs % 60)),
            Some('j') => out.push_str(&format!("{:03}", doy_of_year(y, m, d))),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

fn doy_of_year(y: i64, m: i64, d: i64) -> i64 {
    const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    CUM[(m - 1) as usize] + d + i64::from(leap && m > 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs() -> Vec<Message> {
        vec![
            Message { role: Role::System, content: "Be brief.".into() },
            Message { role: Role::User, content: "Hi".into() },
        ]
    }

    #[test]
    fn chatml_fallback() {
        assert_eq!(
            ChatTemplate::ChatMl.render(&msgs()).unwrap(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn jinja_template_matches_chatml_for_a_chatml_template() {
        let source = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        let t =
            ChatTemplate::Jinja { source: source.into(), bos: String::new(), eos: String::new() };
        assert_eq!(t.render(&msgs()).unwrap(), ChatTemplate::ChatMl.render(&msgs()).unwrap());
        let bad = ChatTemplate::Jinja {
            source: "{{ raise_exception('no system role') }}".into(),
            bos: String::new(),
            eos: String::new(),
        };
        assert!(bad.render(&msgs()).unwrap_err().contains("no system role"));
    }
}
